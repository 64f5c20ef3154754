import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedOrderHistory } from '../../src/stores/postgres/order-history-seed.js';
import { createTestStores, TEST_REDIS_URL, type TestStores } from '../helpers/test-environment.js';

// A rule heavy enough that its full recompute takes a while on this data.
const RULE = { any: [{ orderCount: { filter: { withinDays: 365 }, op: 'GTE', value: 5 } }, { lastOrder: { olderThanDays: 30 } }] };
const EXPECTED = `SELECT c.id FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.id
  HAVING count(*) FILTER (WHERE o.created_at >= $1::timestamptz - interval '365 days') >= 5 OR max(o.created_at) < $1::timestamptz - interval '30 days'`;
const projectRoot = fileURLToPath(new URL('../../', import.meta.url));

describe('a worker killed in the middle of a large recompute', () => {
  let stores: TestStores;
  let segmentId: number;
  const children: ChildProcess[] = [];

  /** The real worker entry point in a process of its own. */
  function startWorkerProcess(): ChildProcess {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/index.ts', 'worker'], {
      cwd: projectRoot,
      env: {
        ...process.env,
        DATABASE_URL: stores.namespace.databaseUrl,
        REDIS_URL: TEST_REDIS_URL,
        REDIS_PREFIX: stores.namespace.redisPrefix,
        LOG_LEVEL: 'warn',
        // A job of a dead worker is retried by another after about this long.
        WORKER_LOCK_DURATION_MS: '2000',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    children.push(child);
    return child;
  }
  const exited = (child: ChildProcess) =>
    new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));
  const count = async (sql: string, values: unknown[] = []) => (await stores.pool.query(sql, values)).rows[0].n as number;

  beforeAll(async () => {
    stores = await createTestStores();
    await seedOrderHistory(stores.pool, { customers: 200_000, orders: 2_000_000, stores: 200 });
    const segment = await stores.segments.transaction((tx) =>
      tx.create({ name: 'Heavy', rule: RULE as never, refreshEveryMinutes: 60 }, 'crash-test'),
    );
    segmentId = segment.id;
  }, 180_000);
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await stores?.dispose();
  });

  it('leaves, after a new worker finishes, exactly what the rule selects, with no duplicate events', async () => {
    // The first worker schedules the segment on start and begins its recompute.
    const first = startWorkerProcess();
    await expect
      .poll(
        () =>
          count(
            `SELECT count(*)::int AS n FROM pg_stat_activity
              WHERE datname = current_database() AND state = 'active' AND query LIKE 'INSERT INTO recompute_target%'`,
          ),
        { timeout: 60_000, interval: 50 },
      )
      .toBe(1);
    first.kill('SIGKILL');
    expect(await exited(first)).toBeNull();
    // Killed mid-transaction: nothing of it is visible, and Postgres cancels the orphaned statement.
    expect(await count('SELECT count(*)::int AS n FROM segment_memberships')).toBe(0);
    await expect
      .poll(() => count(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'INSERT INTO recompute_target%' AND state = 'active'`), {
        timeout: 30_000,
      })
      .toBe(0);

    const second = startWorkerProcess();
    await expect
      .poll(() => count('SELECT count(*)::int AS n FROM segments WHERE id = $1 AND last_computed_at IS NOT NULL', [segmentId]), {
        timeout: 120_000,
        interval: 250,
      })
      .toBe(1);

    // As of the recompute's time of computation, not of this assertion.
    const { rows: computed } = await stores.pool.query('SELECT last_computed_at AS at FROM segments WHERE id = $1', [segmentId]);
    const expected = (await stores.pool.query<{ id: string }>(EXPECTED, [computed[0].at])).rows.map((r) => r.id).sort();
    const members = (await stores.pool.query<{ id: string }>('SELECT customer_id AS id FROM segment_memberships WHERE segment_id = $1', [segmentId])).rows
      .map((r) => r.id)
      .sort();
    expect(members.length).toBeGreaterThan(10_000);
    expect(members).toEqual(expected);
    expect(await count(`SELECT count(*)::int AS n FROM segment_membership_events WHERE segment_id = $1 AND change = 'ENTERED'`, [segmentId])).toBe(members.length);
    expect(await count(`SELECT count(*)::int AS n FROM segment_membership_events WHERE change = 'LEFT'`)).toBe(0);
    expect(
      await count(`SELECT count(*)::int AS n FROM (SELECT customer_id FROM segment_membership_events GROUP BY segment_id, customer_id, change HAVING count(*) > 1) d`),
    ).toBe(0);

    // The serving store follows once the events are published.
    await expect.poll(() => count('SELECT count(*)::int AS n FROM membership_event_outbox'), { timeout: 60_000 }).toBe(0);
    const sample = members.filter((_, i) => i % 97 === 0);
    const { snapshots } = await stores.servingStore.readMany(sample);
    expect(snapshots.every((s) => s.has(segmentId))).toBe(true);

    // And a worker asked to stop finishes cleanly.
    second.kill('SIGTERM');
    expect(await exited(second)).toBe(0);
  }, 300_000);
});
