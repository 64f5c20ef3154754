import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/free-port.js';
import { compileMembersQuery } from '../../src/rules/compile-sql.js';
import type { Rule } from '../../src/rules/rule.js';
import { seedOrderHistory } from '../../src/stores/postgres/order-history-seed.js';
import { insertRuleSegment } from '../helpers/fixtures.js';
import { createTestStores, TEST_REDIS_URL, type TestStores } from '../helpers/test-environment.js';

const ROOT = new URL('../../', import.meta.url).pathname;
// Rules without relative windows: their right answer does not move with the clock.
const RULES: Record<string, Rule> = {
  regulars: { orderCount: { filter: { storeIds: ['store-00001', 'store-00002'] }, op: 'GTE', value: 3 } },
  spenders: { orderTotal: { filter: { storeIds: ['store-00003'] }, op: 'GT', value: 5000 } },
  german: { all: [{ attribute: { field: 'country', op: 'EQ', value: 'DE' } }, { orderCount: { op: 'GTE', value: 1 } }] },
};
const PARTITION_LOCKS = `SELECT l.pid, count(*)::int AS held FROM pg_locks l
  WHERE l.locktype = 'advisory' AND l.classid = 7316005 AND l.objsubid = 2 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  GROUP BY l.pid ORDER BY l.pid`;

interface WorkerProcess {
  child: ChildProcess;
  /** Batches this process evaluated (its debug log). */
  batches: number;
}

/**
 * Several worker processes (`src/index.ts worker`, as `npm run start:worker`
 * runs it) share the change outbox: each drains the partitions it holds, and
 * a killed one's partitions are taken over (issue 15).
 */
describe('several worker processes evaluate at once', () => {
  let stores: TestStores;
  const workers: WorkerProcess[] = [];
  let ids: Record<string, number>;

  async function startWorker(): Promise<WorkerProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/index.ts', 'worker'], {
      cwd: ROOT,
      env: {
        ...process.env,
        DATABASE_URL: stores.namespace.databaseUrl,
        REDIS_URL: TEST_REDIS_URL,
        REDIS_PREFIX: stores.namespace.redisPrefix,
        WORKER_PORT: String(await freePort()),
        LOG_LEVEL: 'debug',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const worker: WorkerProcess = { child, batches: 0 };
    const started = new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`worker exited (${code}) before it started`)));
      createInterface({ input: child.stdout }).on('line', (text) => {
        if (!text.startsWith('{')) return;
        const line = JSON.parse(text) as { msg?: string };
        if (line.msg === 'workers started') resolve();
        if (line.msg === 'changes evaluated') worker.batches++;
      });
    });
    await started;
    workers.push(worker);
    return worker;
  }

  const heldByProcess = async () => (await stores.pool.query<{ pid: number; held: number }>(PARTITION_LOCKS)).rows.map((r) => r.held);
  const outboxEmpty = async () => (await stores.pool.query('SELECT count(*)::int AS n FROM customer_change_outbox')).rows[0].n === 0;

  /** Every rule segment's memberships equal its rule's set-based SQL. */
  async function expectExact(): Promise<void> {
    for (const [name, rule] of Object.entries(RULES)) {
      const { rows: maintained } = await stores.pool.query<{ customer_id: string }>(
        'SELECT customer_id FROM segment_memberships WHERE segment_id = $1 ORDER BY customer_id',
        [ids[name]],
      );
      const { rows: wanted } = await stores.pool.query<{ customer_id: string }>(
        `SELECT customer_id FROM (${compileMembersQuery(rule, { asOf: new Date() }).text}) m ORDER BY customer_id`,
        compileMembersQuery(rule, { asOf: new Date() }).values,
      );
      expect(wanted.length, name).toBeGreaterThan(10);
      expect(maintained.map((r) => r.customer_id), name).toEqual(wanted.map((r) => r.customer_id));
    }
  }

  /** Orders of many customers, one statement each, as order writers do. */
  async function writeOrders(prefix: string, count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      await stores.pool.query(
        `INSERT INTO orders (id, customer_id, store_id, total_cents)
         VALUES ($1, 'cust-' || lpad(($2::int % 2000 + 1)::text, 8, '0'), 'store-0000' || ($2::int % 3 + 1), 2600)`,
        [`${prefix}-${i}`, i * 7919],
      );
    }
  }

  beforeAll(async () => {
    stores = await createTestStores();
    await seedOrderHistory(stores.pool, { customers: 2000, orders: 10_000, stores: 5 });
    ids = {};
    for (const [name, rule] of Object.entries(RULES)) {
      // Segments with no memberships yet; every customer counts as changed, so the event path computes them.
      ids[name] = await insertRuleSegment(stores, rule, name);
    }
  }, 60_000);

  afterAll(async () => {
    for (const { child } of workers) if (child.exitCode === null) child.kill('SIGKILL');
    await stores?.dispose();
  });

  it('three processes each hold a share of the partitions, and together compute exactly', async () => {
    await Promise.all([startWorker(), startWorker(), startWorker()]);
    await expect
      .poll(async () => {
        const held = await heldByProcess();
        return held.length === 3 && held.reduce((a, b) => a + b, 0) === 64 && held.every((n) => n >= 20 && n <= 22);
      }, { timeout: 20_000, interval: 200 })
      .toBe(true);

    await stores.pool.query('INSERT INTO customer_change_outbox (customer_id) SELECT id FROM customers');
    await writeOrders('burst', 300);
    await expect.poll(outboxEmpty, { timeout: 30_000, interval: 200 }).toBe(true);
    await expectExact();
    // Each process took a share of the work.
    for (const worker of workers) expect(worker.batches).toBeGreaterThan(0);
  }, 90_000);

  it('takes over the partitions of a killed process within seconds, and loses nothing', async () => {
    const victim = workers[0]!;
    victim.child.kill('SIGKILL');
    await once(victim.child, 'exit');
    const killedAt = Date.now();
    await expect
      .poll(async () => {
        const held = await heldByProcess();
        return held.length === 2 && held.reduce((a, b) => a + b, 0) === 64;
      }, { timeout: 15_000, interval: 200 })
      .toBe(true);
    expect(Date.now() - killedAt).toBeLessThan(10_000);

    await writeOrders('after-kill', 300);
    await expect.poll(outboxEmpty, { timeout: 30_000, interval: 200 }).toBe(true);
    await expectExact();
  }, 60_000);
});
