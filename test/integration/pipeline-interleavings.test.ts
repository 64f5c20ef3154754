import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedOrderHistory } from '../../src/stores/postgres/order-history-seed.js';
import type { RunningWorkers } from '../../workers/index.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';
import { adminToken } from '../helpers/tokens.js';
import { startTestWorkers } from '../helpers/workers.js';
import { segmentSizes } from '../helpers/fixtures.js';

const PARTNERS = ['store-00001', 'store-00004'];
const RULES = {
  newToStores: { orderCount: { filter: { storeIds: PARTNERS }, op: 'EQ', value: 0 } },
  recurrent: { orderCount: { filter: { storeIds: PARTNERS, withinDays: 30 }, op: 'GTE', value: 3 } },
  inactive: { lastOrder: { olderThanDays: 60 } },
  spenders: { orderTotal: { filter: { withinDays: 365 }, op: 'GTE', value: 20_000 } },
};
type Name = keyof typeof RULES | 'composite';
const day = (n: number) => `$1::timestamptz - ${n} * interval '24 hours'`;
// The rules' meaning written by hand, as of $1: the time the workers last applied time passing.
const EXPECTED: Record<Name, string> = {
  newToStores: `SELECT c.id FROM customers c
    WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.store_id = ANY('{store-00001,store-00004}'))`,
  // Version 2 of the rule, set during the storm.
  recurrent: `SELECT c.id FROM customers c JOIN orders o ON o.customer_id = c.id
    WHERE o.store_id = ANY('{store-00001,store-00004}') AND o.created_at >= ${day(45)} GROUP BY c.id HAVING count(*) >= 3`,
  inactive: `SELECT c.id FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.id HAVING max(o.created_at) < ${day(60)}`,
  spenders: `SELECT c.id FROM customers c JOIN orders o ON o.customer_id = c.id
    WHERE o.created_at >= ${day(365)} GROUP BY c.id HAVING sum(o.total_cents) >= 20000`,
  composite: `SELECT c.id FROM customers c JOIN orders o ON o.customer_id = c.id
    WHERE o.store_id = ANY('{store-00001,store-00004}') AND o.created_at >= ${day(45)} AND c.country = 'DE' GROUP BY c.id HAVING count(*) >= 3`,
};

const CREATE = `mutation ($input: CreateSegmentInput!) { createSegment(input: $input) { id } }`;
const RECOMPUTE = `mutation ($id: ID!) { recomputeSegment(id: $id) { id } }`;
const UPDATE = `mutation ($id: ID!, $rule: SegmentRuleInput!) { updateSegment(id: $id, input: { rule: $rule }) { version } }`;

describe('recomputes, time passing and a storm of order and customer changes, all at once', () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  const workers: RunningWorkers[] = [];
  let admin: string;
  const ids = {} as Record<Name, number>;

  beforeAll(async () => {
    stores = await createTestStores();
    await seedOrderHistory(stores.pool, { customers: 2000, orders: 30_000, stores: 12 });
    subgraph = await startSubgraph(stores);
    // Two worker processes' worth: one evaluates, the other stands by; both compute.
    const options = { timeMaintenanceEveryMs: 500, reconcileEveryMs: 2000, evaluator: { backlogBatch: 50, maxBacklogBatch: 200, freshBatch: 20 } };
    workers.push(await startTestWorkers(stores, options), await startTestWorkers(stores, options));
    admin = await adminToken();
  }, 120_000);
  afterAll(async () => {
    for (const w of workers) await w.close();
    await subgraph?.stop();
    await stores?.dispose();
  });

  it('ends with Postgres and Redis equal to the rules, and no membership entered or left twice in a row', async () => {
    for (const name of Object.keys(RULES) as Array<keyof typeof RULES>) {
      ids[name] = Number((await execute(subgraph.url, CREATE, { input: { name, rule: RULES[name] } }, admin)).data!.createSegment.id);
    }
    const composite = { all: [{ inSegment: String(ids.recurrent) }, { attribute: { field: 'country', op: 'EQ', value: 'DE' } }] };
    ids.composite = Number((await execute(subgraph.url, CREATE, { input: { name: 'composite', rule: composite } }, admin)).data!.createSegment.id);

    // The storm: every kind of change, while recomputes and time maintenance run.
    const { rows: customers } = await stores.pool.query<{ id: string }>('SELECT id FROM customers ORDER BY id');
    const customer = () => customers[Math.floor(Math.random() * customers.length)]!.id;
    const store = () => `store-${String(1 + Math.floor(Math.random() * 6)).padStart(5, '0')}`;
    const stormUntil = Date.now() + 8000;
    let orderNumber = 0;
    let newCustomers = 0;
    const loop = async (pace: number, step: (db: pg.Pool) => Promise<unknown>) => {
      while (Date.now() < stormUntil) {
        await step(stores.pool);
        await new Promise((resolve) => setTimeout(resolve, pace));
      }
    };
    const segmentIds = Object.values(ids);
    await Promise.all([
      loop(2, (db) =>
        db.query(
          `INSERT INTO orders (id, customer_id, store_id, total_cents, created_at) VALUES ($1, $2, $3, $4, now() - random() * interval '90 days')`,
          [`storm-${++orderNumber}`, customer(), store(), 500 + Math.floor(Math.random() * 5000)],
        ),
      ),
      loop(5, (db) =>
        db.query(
          `INSERT INTO orders (id, customer_id, store_id, total_cents, created_at)
           SELECT $1 || '-' || i, $2, $3, 1200, now() - i * interval '1 day' FROM generate_series(1, 4) i`,
          [`storm-bulk-${++orderNumber}`, customer(), PARTNERS[orderNumber % 2]],
        ),
      ),
      loop(5, (db) =>
        db.query(
          `UPDATE orders SET store_id = $1, created_at = created_at - interval '20 days', customer_id = CASE WHEN random() < 0.3 THEN $2 ELSE customer_id END
            WHERE id = (SELECT id FROM orders WHERE customer_id = $3 ORDER BY id LIMIT 1)`,
          [store(), customer(), customer()],
        ),
      ),
      loop(5, (db) => db.query(`DELETE FROM orders WHERE id = (SELECT id FROM orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 1)`, [customer()])),
      loop(10, (db) => db.query(`UPDATE customers SET country = CASE WHEN country = 'DE' THEN 'FR' ELSE 'DE' END WHERE id = $1`, [customer()])),
      loop(100, (db) => db.query(`INSERT INTO customers (id, country) VALUES ($1, 'DE')`, [`storm-customer-${++newCustomers}`])),
      loop(150, () => execute(subgraph.url, RECOMPUTE, { id: String(segmentIds[Math.floor(Math.random() * segmentIds.length)]) }, admin)),
      (async () => {
        await new Promise((resolve) => setTimeout(resolve, 3000));
        const changed = { orderCount: { filter: { storeIds: PARTNERS, withinDays: 45 }, op: 'GTE', value: 3 } };
        expect((await execute(subgraph.url, UPDATE, { id: String(ids.recurrent), rule: changed }, admin)).data).toEqual({ updateSegment: { version: 2 } });
      })(),
    ]);

    // Quiet: every change evaluated and published, no recompute left, and time passing applied to
    // every segment at one instant T. Memberships are read in that same snapshot.
    const settled = async () => {
      const counts = await subgraph.recomputeQueue.getJobCounts('waiting', 'active', 'prioritized', 'failed');
      if (counts.failed! > 0) throw new Error(`recompute jobs failed: ${JSON.stringify((await subgraph.recomputeQueue.getFailed()).map((j) => j.failedReason))}`);
      if (Object.values(counts).some((n) => n > 0)) return null;
      const client = await stores.pool.connect();
      try {
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
        const { rows } = await client.query(
          `SELECT (SELECT count(*)::int FROM customer_change_outbox) AS outbox,
                  (SELECT count(*)::int FROM membership_event_outbox) AS unpublished,
                  (SELECT count(*)::int FROM segments WHERE computing_since IS NOT NULL) AS computing,
                  (SELECT count(DISTINCT time_evaluated_at)::int FROM segments WHERE id = ANY($1::int[])) AS instants,
                  (SELECT max(time_evaluated_at) FROM segments WHERE id = ANY($1::int[])) AS "asOf"`,
          [[ids.recurrent, ids.inactive, ids.spenders]],
        );
        const state = rows[0];
        if (state.outbox + state.unpublished + state.computing > 0 || state.instants !== 1) return null;
        const result = { asOf: state.asOf as Date, members: {} as Record<Name, string[]>, expected: {} as Record<Name, string[]> };
        for (const name of Object.keys(ids) as Name[]) {
          result.members[name] = (await client.query('SELECT customer_id FROM segment_memberships WHERE segment_id = $1 ORDER BY 1', [ids[name]])).rows.map((r) => r.customer_id);
          result.expected[name] = (await client.query(`SELECT id FROM (${EXPECTED[name]}) x ORDER BY 1`, name === 'newToStores' ? [] : [state.asOf])).rows.map((r) => r.id);
        }
        return result;
      } finally {
        await client.query('COMMIT');
        client.release();
      }
    };
    let outcome: Awaited<ReturnType<typeof settled>> = null;
    await expect.poll(async () => (outcome = await settled()) !== null, { timeout: 60_000, interval: 200 }).toBe(true);
    expect(await stores.pool.query('SELECT count(*)::int AS n FROM segments WHERE quarantined_at IS NOT NULL').then((r) => r.rows[0].n)).toBe(0);
    for (const name of Object.keys(ids) as Name[]) {
      expect(outcome!.expected[name].length, name).toBeGreaterThan(5);
      expect(outcome!.members[name], name).toEqual(outcome!.expected[name]);
    }

    // Sizes follow the memberships.
    const { rows: counts } = await stores.pool.query<{ id: number; members: number }>(
      `SELECT s.id, (SELECT count(*)::int FROM segment_memberships m WHERE m.segment_id = s.id) AS members FROM segments s`,
    );
    const sizes = await segmentSizes(stores, counts.map((c) => c.id));
    for (const c of counts) expect(sizes.get(c.id), `size of ${c.id}`).toBe(c.members);

    // Every membership's events alternate, starting with ENTERED.
    const { rows: repeats } = await stores.pool.query(
      `SELECT segment_id, customer_id, change, previous FROM (
         SELECT segment_id, customer_id, change, lag(change) OVER (PARTITION BY segment_id, customer_id ORDER BY id) AS previous
           FROM segment_membership_events) e
        WHERE change = previous OR (previous IS NULL AND change = 'LEFT')`,
    );
    expect(repeats).toEqual([]);
    expect((await stores.pool.query(`SELECT count(*)::int AS n FROM segment_membership_events WHERE cause = 'event'`)).rows[0].n).toBeGreaterThan(100);

    // Redis serves what Postgres holds (time maintenance may still move a customer: poll).
    const everyone = (await stores.pool.query<{ id: string }>('SELECT id FROM customers')).rows.map((r) => r.id);
    await expect
      .poll(async () => {
        const { rows } = await stores.pool.query<{ customer_id: string; segment_id: number }>('SELECT customer_id, segment_id FROM segment_memberships');
        const inPostgres = new Set(rows.map((r) => `${r.customer_id}/${r.segment_id}`));
        const { snapshots } = await stores.servingStore.readMany(everyone);
        const inRedis = new Set(everyone.flatMap((id, i) => [...snapshots[i]!.keys()].map((s) => `${id}/${s}`)));
        return [...inPostgres].filter((k) => !inRedis.has(k)).length + [...inRedis].filter((k) => !inPostgres.has(k)).length;
      }, { timeout: 10_000 })
      .toBe(0);
  }, 120_000);
});
