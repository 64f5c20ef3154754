import { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bullConnection } from '../../src/stores/redis/bull-connection.js';
import {
  addOrderCreated,
  addOrdersCreated,
  createOrderEventsQueue,
  ORDER_EVENTS_QUEUE,
  type OrderEventsQueue,
} from '../../src/jobs/order-events-queue.js';
import { seedOrderHistory } from '../../src/stores/postgres/order-history-seed.js';
import type { RunningWorkers } from '../../workers/index.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, TEST_REDIS_URL, type TestStores } from '../helpers/test-environment.js';
import { adminToken } from '../helpers/tokens.js';
import { startTestWorkers } from '../helpers/workers.js';
import { segmentSizes } from '../helpers/fixtures.js';

const PARTNERS = ['store-00001', 'store-00004'];
const RULES = {
  newToStores: { orderCount: { filter: { storeIds: PARTNERS }, op: 'EQ', value: 0 } },
  recurrent: { orderCount: { filter: { storeIds: PARTNERS, withinDays: 30 }, op: 'GTE', value: 3 } },
  inactive: { lastOrder: { olderThanDays: 60 } },
};
// The rules' meaning written by hand in SQL, independently of the compiler, as of
// $1: the segment's time of computation (window edges move while a test runs).
const EXPECTED = {
  newToStores: `SELECT c.id FROM customers c
    WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.store_id = ANY('{store-00001,store-00004}'))`,
  recurrent: `SELECT c.id FROM customers c JOIN orders o ON o.customer_id = c.id
    WHERE o.store_id = ANY('{store-00001,store-00004}') AND o.created_at >= $1::timestamptz - interval '30 days' GROUP BY c.id HAVING count(*) >= 3`,
  inactive: `SELECT c.id FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.id HAVING max(o.created_at) < $1::timestamptz - interval '60 days'`,
};
type Name = keyof typeof RULES;

const CREATE = `mutation ($input: CreateSegmentInput!) { createSegment(input: $input) { id } }`;
const SEGMENTS_OF = `query ($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { id segments { id } } } }`;

describe('membership computation: schedules, order events, publication', () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let workers: RunningWorkers | undefined;
  let orderEvents: OrderEventsQueue;
  let admin: string;
  const ids: Record<Name, number> = { newToStores: 0, recurrent: 0, inactive: 0 };
  let orderNumber = 0;

  const customersOf = async (sql: string, values: unknown[] = []) =>
    (await stores.pool.query<{ id: string }>(sql, sql.includes('$1') ? values : [])).rows.map((r) => r.id).sort();
  /** When the segment was last computed in full: the as-of of its members. */
  const computedAt = async (segmentId: number) =>
    (await stores.pool.query<{ at: Date }>('SELECT last_computed_at AS at FROM segments WHERE id = $1', [segmentId])).rows[0]!.at;
  const members = async (segmentId: number) =>
    (await stores.pool.query<{ id: string }>('SELECT customer_id AS id FROM segment_memberships WHERE segment_id = $1', [segmentId])).rows
      .map((r) => r.id)
      .sort();
  const served = async (customerId: string) =>
    ((await execute(subgraph.url, SEGMENTS_OF, { r: [{ __typename: 'Customer', id: customerId }] })).data!._entities[0].segments as Array<{ id: string }>)
      .map((s) => Number(s.id))
      .sort((a, b) => a - b);
  const insertOrders = async (customerId: string, storeId: string, count = 1) => {
    const orderIds = Array.from({ length: count }, () => `test-order-${++orderNumber}`);
    await stores.pool.query(
      `INSERT INTO orders (id, customer_id, store_id, total_cents, created_at) SELECT unnest($1::text[]), $2, $3, 1500, now()`,
      [orderIds, customerId, storeId],
    );
    return orderIds;
  };

  beforeAll(async () => {
    stores = await createTestStores();
    await seedOrderHistory(stores.pool, { customers: 3000, orders: 40_000, stores: 20 });
    subgraph = await startSubgraph(stores);
    workers = await startTestWorkers(stores);
    orderEvents = createOrderEventsQueue(bullConnection({ url: TEST_REDIS_URL }, 'test'), stores.keys);
    admin = await adminToken();
  }, 120_000);
  afterAll(async () => {
    await workers?.close();
    await orderEvents?.close();
    await subgraph?.stop();
    await stores?.dispose();
  });

  it('fills the day-one segments with exactly the members their rules select, in Postgres and Redis', async () => {
    for (const name of Object.keys(RULES) as Name[]) {
      const result = await execute(subgraph.url, CREATE, { input: { name, rule: RULES[name] } }, admin);
      expect(result.errors).toBeUndefined();
      ids[name] = Number(result.data!.createSegment.id);
    }
    await expect
      .poll(async () => (await stores.pool.query(`SELECT count(*)::int AS n FROM segments WHERE last_computed_at IS NOT NULL`)).rows[0].n, { timeout: 30_000 })
      .toBe(3);

    for (const name of Object.keys(RULES) as Name[]) {
      const expected = await customersOf(EXPECTED[name], [await computedAt(ids[name])]);
      expect(expected.length).toBeGreaterThan(10);
      expect(await members(ids[name])).toEqual(expected);
      expect((await segmentSizes(stores, [ids[name]])).get(ids[name])).toBe(expected.length);
    }

    // Every change was recorded once, then published: Redis agrees with Postgres.
    await expect.poll(async () => (await stores.pool.query(`SELECT count(*)::int AS n FROM membership_event_outbox`)).rows[0].n, { timeout: 10_000 }).toBe(0);
    const { rows: events } = await stores.pool.query(
      `SELECT segment_id, change, cause, count(*)::int AS n, count(DISTINCT customer_id)::int AS customers FROM segment_membership_events GROUP BY 1, 2, 3 ORDER BY 1`,
    );
    expect(events).toEqual(
      (Object.keys(RULES) as Name[]).map((name) => expect.objectContaining({ segment_id: ids[name], change: 'ENTERED', cause: 'schedule' })),
    );
    for (const e of events) expect(e.n).toBe(e.customers);

    const everyone = await customersOf('SELECT id FROM customers');
    const { snapshots } = await stores.servingStore.readMany(everyone);
    for (const name of Object.keys(RULES) as Name[]) {
      const inRedis = everyone.filter((_, i) => snapshots[i]!.has(ids[name])).sort();
      expect(inRedis).toEqual(await members(ids[name]));
    }
  });

  it('changes nothing and records nothing when recomputed again', async () => {
    const before = (await stores.pool.query('SELECT count(*)::int AS n FROM segment_membership_events')).rows[0].n;
    const previously = await computedAt(ids.inactive);
    await execute(subgraph.url, `mutation ($id: ID!) { recomputeSegment(id: $id) { id } }`, { id: String(ids.inactive) }, admin);
    await expect.poll(async () => (await computedAt(ids.inactive)).getTime(), { timeout: 15_000 }).toBeGreaterThan(previously.getTime());
    expect((await stores.pool.query('SELECT count(*)::int AS n FROM segment_membership_events')).rows[0].n).toBe(before);
    expect(await members(ids.inactive)).toEqual(await customersOf(EXPECTED.inactive, [await computedAt(ids.inactive)]));
  });

  it('moves a customer within seconds of an order inserted with plain SQL, in Postgres and through Customer.segments', async () => {
    const [lapsed] = await customersOf(`${EXPECTED.inactive} ORDER BY 1 LIMIT 1`, [await computedAt(ids.inactive)]);
    const [fresh] = await customersOf(`SELECT id FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id) ORDER BY 1 LIMIT 1`);
    expect(await served(lapsed!)).toContain(ids.inactive);
    expect(await served(fresh!)).toEqual([ids.newToStores]);

    const started = Date.now();
    await insertOrders(lapsed!, 'store-00007');
    await insertOrders(fresh!, PARTNERS[0]!, 3);

    await expect.poll(() => served(lapsed!), { timeout: 5_000, interval: 100 }).not.toContain(ids.inactive);
    await expect.poll(() => served(fresh!), { timeout: 5_000, interval: 100 }).toEqual([ids.recurrent]);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await members(ids.inactive)).not.toContain(lapsed);
    expect(await members(ids.recurrent)).toContain(fresh);

    const { rows } = await stores.pool.query(
      `SELECT customer_id, segment_id, change FROM segment_membership_events WHERE cause = 'event' ORDER BY id`,
    );
    expect(rows).toEqual(
      expect.arrayContaining([
        { customer_id: lapsed, segment_id: ids.inactive, change: 'LEFT' },
        { customer_id: fresh, segment_id: ids.newToStores, change: 'LEFT' },
        { customer_id: fresh, segment_id: ids.recurrent, change: 'ENTERED' },
      ]),
    );
    for (const [id, size] of await segmentSizes(stores, Object.values(ids))) expect(size).toBe((await members(id)).length);
  });

  it('publishes every change on the membership-events stream', async () => {
    const entries = await stores.redis.xrange(stores.keys.membershipEvents, '-', '+');
    const { rows } = await stores.pool.query(`SELECT count(*)::int AS n FROM segment_membership_events`);
    const eventIds = new Set(entries.map(([, fields]) => fields[fields.indexOf('eventId') + 1]));
    expect(eventIds.size).toBe(rows[0].n);
    const last = Object.fromEntries(
      (entries.at(-1)![1].reduce<string[][]>((pairs, v, i, all) => (i % 2 ? pairs : [...pairs, [v, all[i + 1]!]]), [])) as Array<[string, string]>,
    );
    expect(Object.keys(last).sort()).toEqual(['at', 'cause', 'change', 'customerId', 'eventId', 'segmentId', 'segmentVersion']);
  });

  it('evaluates order.created jobs added by producers, a burst of one customer coalescing into one change', async () => {
    const [customer] = await customersOf(`SELECT id FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id) ORDER BY 1 DESC LIMIT 1`);
    // Written by a producer that does not go through the outbox.
    const client = await stores.pool.connect();
    let orderIds: string[];
    try {
      await client.query('BEGIN');
      await client.query('ALTER TABLE orders DISABLE TRIGGER segments_order_inserts');
      orderIds = Array.from({ length: 20 }, (_, i) => `burst-${i}`);
      await client.query(
        `INSERT INTO orders (id, customer_id, store_id, total_cents, created_at) SELECT unnest($1::text[]), $2, $3, 900, now()`,
        [orderIds, customer, PARTNERS[1]],
      );
      await client.query('ALTER TABLE orders ENABLE TRIGGER segments_order_inserts');
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const events = new QueueEvents(ORDER_EVENTS_QUEUE, { connection: bullConnection({ url: TEST_REDIS_URL }, 'test'), prefix: stores.keys.bullPrefix(ORDER_EVENTS_QUEUE) });
    await events.waitUntilReady();
    try {
      await addOrderCreated(orderEvents, { type: 'order.created', customerId: customer!, orderId: orderIds[0]! });
      await addOrdersCreated(orderEvents, orderIds.slice(1).map((orderId) => ({ type: 'order.created', customerId: customer!, orderId })));
      await expect.poll(() => served(customer!), { timeout: 5_000, interval: 100 }).toEqual([ids.recurrent]);
    } finally {
      await events.close();
    }
    // Every job completes once recorded in the change outbox...
    const jobsOf = async (...states: Array<'completed' | 'active' | 'waiting' | 'delayed' | 'failed'>) =>
      (await orderEvents.getJobs(states)).filter((job) => job.data.customerId === customer);
    await expect.poll(async () => (await jobsOf('completed')).length, { timeout: 5_000 }).toBe(20);
    expect(await jobsOf('active', 'waiting', 'delayed', 'failed')).toHaveLength(0);
    // ...and the burst moved the customer once: one leave, one enter, nothing undone.
    const { rows } = await stores.pool.query(
      `SELECT segment_id, change FROM segment_membership_events WHERE customer_id = $1 AND cause = 'event' ORDER BY segment_id`,
      [customer],
    );
    expect(rows).toEqual([
      { segment_id: ids.newToStores, change: 'LEFT' },
      { segment_id: ids.recurrent, change: 'ENTERED' },
    ]);
  });

  it('evaluates orders written while no worker ran, once one starts', async () => {
    const outboxRows = async () => (await stores.pool.query('SELECT count(*)::int AS n FROM customer_change_outbox')).rows[0].n as number;
    // A late job of the burst above can record its customer again after the test saw it served:
    // once that is evaluated, the outbox holds only what this test writes.
    await expect.poll(outboxRows, { timeout: 5_000 }).toBe(0);
    await workers!.close();
    workers = undefined;
    const [lapsed] = await customersOf(`${EXPECTED.inactive} ORDER BY 1 DESC LIMIT 1`, [await computedAt(ids.inactive)]);
    await insertOrders(lapsed!, 'store-00011');
    expect(await outboxRows()).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await members(ids.inactive)).toContain(lapsed); // nobody is working

    workers = await startTestWorkers(stores);
    await expect.poll(() => served(lapsed!), { timeout: 5_000, interval: 100 }).not.toContain(ids.inactive);
    expect(await outboxRows()).toBe(0);
  });

  it('recomputes a segment after the segments its rule reads', async () => {
    const rule = { all: [{ inSegment: String(ids.inactive) }, { attribute: { field: 'country', op: 'EQ', value: 'DE' } }] };
    const result = await execute(subgraph.url, CREATE, { input: { name: 'Lapsed in Germany', rule } }, admin);
    const dependent = Number(result.data!.createSegment.id);
    const expected = `SELECT m.customer_id AS id FROM segment_memberships m JOIN customers c ON c.id = m.customer_id
      WHERE m.segment_id = ${ids.inactive} AND c.country = 'DE'`;
    await expect.poll(async () => (await members(dependent)).length, { timeout: 15_000 }).toBeGreaterThan(0);
    expect(await members(dependent)).toEqual(await customersOf(expected));

    // A customer leaving the segment it reads leaves it too, through the event path.
    const [german] = await customersOf(`${expected} ORDER BY 1 LIMIT 1`);
    // Served first, or the poll below could pass before the first computation is published.
    await expect.poll(() => served(german!), { timeout: 5_000, interval: 100 }).toContain(dependent);
    await insertOrders(german!, 'store-00009');
    await expect.poll(() => served(german!), { timeout: 5_000, interval: 100 }).not.toContain(dependent);
    expect(await members(dependent)).not.toContain(german);
  });

  it('serves STATIC member changes once the publisher has carried them to Redis', async () => {
    const created = await execute(subgraph.url, CREATE, { input: { name: 'Churn model v3' } }, admin);
    const id = created.data!.createSegment.id as string;
    await execute(subgraph.url, `mutation ($id: ID!) { addSegmentMembers(id: $id, customerIds: ["cust-00000001", "cust-00000002"]) { size } }`, { id }, admin);
    await expect.poll(() => served('cust-00000002'), { timeout: 5_000, interval: 100 }).toContain(Number(id));
    await execute(subgraph.url, `mutation ($id: ID!) { removeSegmentMembers(id: $id, customerIds: ["cust-00000002"]) { size } }`, { id }, admin);
    await expect.poll(() => served('cust-00000002'), { timeout: 5_000, interval: 100 }).not.toContain(Number(id));
    expect(await served('cust-00000001')).toContain(Number(id));
  });

  it('recomputes a changed rule as its new version, recording the changes under it', async () => {
    const narrower = { lastOrder: { olderThanDays: 90 } };
    const before = await computedAt(ids.inactive);
    const result = await execute(
      subgraph.url,
      `mutation ($id: ID!, $rule: SegmentRuleInput!) { updateSegment(id: $id, input: { rule: $rule }) { version } }`,
      { id: String(ids.inactive), rule: narrower },
      admin,
    );
    expect(result.data).toEqual({ updateSegment: { version: 2 } });
    await expect.poll(async () => (await stores.pool.query('SELECT version FROM segments WHERE id = $1 AND computing_since IS NULL AND last_computed_at > $2', [ids.inactive, before])).rowCount, { timeout: 15_000 }).toBe(1);
    expect(await members(ids.inactive)).toEqual(await customersOf(EXPECTED.inactive.replace('60 days', '90 days'), [await computedAt(ids.inactive)]));
    const { rows } = await stores.pool.query(
      `SELECT change, segment_version, count(*)::int AS n FROM segment_membership_events
        WHERE segment_id = $1 AND cause = 'schedule' GROUP BY 1, 2 ORDER BY 1, 2`,
      [ids.inactive],
    );
    expect(rows).toEqual([
      { change: 'ENTERED', segment_version: 1, n: expect.any(Number) },
      { change: 'LEFT', segment_version: 2, n: expect.any(Number) },
    ]);
  });

  it('rebuilds the serving keys after Redis loses them, with the same answers as before', async () => {
    // Let every recompute (dependents follow the rule change above) land and be published first.
    await expect
      .poll(async () => {
        const counts = await subgraph.recomputeQueue.getJobCounts('waiting', 'active', 'prioritized');
        const unpublished = (await stores.pool.query('SELECT count(*)::int AS n FROM membership_event_outbox')).rows[0].n;
        return Object.values(counts).reduce((sum, n) => sum + n, 0) + unpublished;
      }, { timeout: 15_000 })
      .toBe(0);
    const everyone = await customersOf('SELECT id FROM customers');
    const before = (await stores.servingStore.readMany(everyone)).snapshots;
    let cursor = '0';
    do {
      const [next, keys] = await stores.redis.scan(cursor, 'MATCH', stores.keys.customerPattern, 'COUNT', 1000);
      if (keys.length) await stores.redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
    await stores.redis.unlink(stores.keys.servingBuilt(0));

    await workers!.close();
    workers = await startTestWorkers(stores); // finds the store missing on start
    await expect.poll(() => stores.servingStore.builtAt(), { timeout: 15_000 }).not.toBeNull();
    expect((await stores.servingStore.readMany(everyone)).snapshots).toEqual(before);
  });
});
