import calculateSlot from 'cluster-key-slot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAINTENANCE_QUEUE } from '../../src/jobs/maintenance-queue.js';
import { ORDER_EVENTS_QUEUE } from '../../src/jobs/order-events-queue.js';
import { RECOMPUTE_QUEUE } from '../../src/jobs/recompute-queue.js';
import { seedOrderHistory } from '../../src/stores/postgres/order-history-seed.js';
import { withServingStoreLock } from '../../src/stores/postgres/serving-store-lock.js';
import type { RunningWorkers } from '../../workers/index.js';
import { startRedisCluster, type LocalRedisCluster } from '../helpers/redis-cluster.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';
import { adminToken } from '../helpers/tokens.js';
import { startTestWorkers } from '../helpers/workers.js';

const PARTNERS = ['store-00001', 'store-00004'];
const RULES = {
  newToStores: { orderCount: { filter: { storeIds: PARTNERS }, op: 'EQ', value: 0 } },
  inactive: { lastOrder: { olderThanDays: 60 } },
};
// The rules' meaning in SQL, as of $1: the segment's time of computation.
const EXPECTED = {
  newToStores: `SELECT c.id FROM customers c
    WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.store_id = ANY('{store-00001,store-00004}'))`,
  inactive: `SELECT c.id FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.id HAVING max(o.created_at) < $1::timestamptz - interval '60 days'`,
};
type Name = keyof typeof RULES;

const CREATE = `mutation ($input: CreateSegmentInput!) { createSegment(input: $input) { id } }`;
const PAGE = /* GraphQL */ `
  query ($r: [_Any!]!) {
    _entities(representations: $r) {
      ... on Customer { id segments { id name } segmentsFreshness { source } }
    }
  }
`;

type Entity = { id: string; segments: Array<{ id: string; name: string }>; segmentsFreshness: { source: string } };

describe('every role against a real three-master Redis Cluster', () => {
  let cluster: LocalRedisCluster;
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let workers: RunningWorkers | undefined;
  let admin: string;
  let everyone: string[];
  const ids: Record<Name, number> = { newToStores: 0, inactive: 0 };

  const customersOf = async (sql: string, values: unknown[] = []) =>
    (await stores.pool.query<{ id: string }>(sql, sql.includes('$1') ? values : [])).rows.map((r) => r.id).sort();
  const computedAt = async (segmentId: number) =>
    (await stores.pool.query<{ at: Date }>('SELECT last_computed_at AS at FROM segments WHERE id = $1', [segmentId])).rows[0]!.at;
  /** Every customer's segment ids in Postgres, the source of truth. */
  const inPostgres = async () => {
    const { rows } = await stores.pool.query<{ customer_id: string; segment_id: number }>('SELECT customer_id, segment_id FROM segment_memberships');
    const byCustomer = new Map<string, number[]>(everyone.map((id) => [id, []]));
    for (const row of rows) byCustomer.get(row.customer_id)?.push(row.segment_id);
    return new Map([...byCustomer].map(([id, segments]) => [id, segments.sort((a, b) => a - b)]));
  };
  /** Every customer's segment ids as the serving store holds them. */
  const inRedis = async () => {
    const { snapshots, built } = await stores.servingStore.readMany(everyone);
    expect(built).toBe(true);
    return new Map(everyone.map((id, i) => [id, [...snapshots[i]!.keys()].sort((a, b) => a - b)]));
  };
  const page = async (customerIds: readonly string[]) => {
    const result = await execute(subgraph.url, PAGE, { r: customerIds.map((id) => ({ __typename: 'Customer', id })) });
    expect(result.errors).toBeUndefined();
    return result.data!._entities as Entity[];
  };
  /** The keys under this test's prefix on one master, read on the master itself. */
  const keysOn = async (master: number, pattern = `${stores.keys.prefix}*`) => {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await cluster.masters[master]!.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      found.push(...keys);
      cursor = next;
    } while (cursor !== '0');
    return found;
  };

  beforeAll(async () => {
    cluster = await startRedisCluster(3);
    stores = await createTestStores({ redisCluster: cluster.nodes });
    await seedOrderHistory(stores.pool, { customers: 3000, orders: 40_000, stores: 20 });
    everyone = await customersOf('SELECT id FROM customers');
    subgraph = await startSubgraph(stores);
    workers = await startTestWorkers(stores, { orderOutboxTrigger: true, servingStoreCheckEveryMs: 500, reconcileEveryMs: 500 });
    admin = await adminToken();
  }, 120_000);
  afterAll(async () => {
    await workers?.close();
    await subgraph?.stop();
    await stores?.dispose();
    await cluster?.stop();
  });

  it('computes segments through queues that each live under a hash tag of their own, and publishes them to every master', async () => {
    for (const name of Object.keys(RULES) as Name[]) {
      const result = await execute(subgraph.url, CREATE, { input: { name, rule: RULES[name] } }, admin);
      expect(result.errors).toBeUndefined();
      ids[name] = Number(result.data!.createSegment.id);
    }
    await expect
      .poll(async () => (await stores.pool.query(`SELECT count(*)::int AS n FROM segments WHERE last_computed_at IS NOT NULL`)).rows[0].n, { timeout: 30_000 })
      .toBe(2);
    for (const name of Object.keys(RULES) as Name[]) {
      const expected = await customersOf(EXPECTED[name], [await computedAt(ids[name])]);
      expect(expected.length).toBeGreaterThan(10);
      expect(await customersOf('SELECT customer_id AS id FROM segment_memberships WHERE segment_id = $1', [ids[name]])).toEqual(expected);
    }
    await expect.poll(async () => (await stores.pool.query(`SELECT count(*)::int AS n FROM membership_event_outbox`)).rows[0].n, { timeout: 10_000 }).toBe(0);
    expect(await inRedis()).toEqual(await inPostgres());

    // The customers are spread over all three masters, each key in its shard's slot.
    const customerKeys = await Promise.all([0, 1, 2].map((master) => keysOn(master, stores.keys.customerPattern)));
    for (const keys of customerKeys) expect(keys.length).toBeGreaterThan(300);
    for (const key of customerKeys.flat()) expect(calculateSlot(key)).toBe(stores.keys.slotOf(stores.keys.shardOf(stores.keys.customerIdOf(key))));
    // Each queue's keys are all on one master, under its own tag.
    for (const queue of [RECOMPUTE_QUEUE, ORDER_EVENTS_QUEUE, MAINTENANCE_QUEUE]) {
      const holders = [];
      for (const master of [0, 1, 2]) if ((await keysOn(master, `${stores.keys.bullPrefix(queue)}:*`)).length > 0) holders.push(master);
      expect(holders).toHaveLength(1);
    }
    // The stream has every event once.
    const { rows } = await stores.pool.query(`SELECT count(*)::int AS n FROM segment_membership_events`);
    expect(await stores.redis.xlen(stores.keys.membershipEvents)).toBe(rows[0].n);
  });

  it('serves a page of customers of every master in one round trip per master, from Redis', async () => {
    const customers = everyone.slice(0, 100);
    await page(customers); // the catalog warms up
    for (const relay of cluster.relays) relay.reset();
    const entities = await page(customers);

    expect(entities.every((e) => e.segmentsFreshness.source === 'REDIS')).toBe(true);
    const expected = await inPostgres();
    expect(entities.map((e) => [e.id, e.segments.map((s) => Number(s.id)).sort((a, b) => a - b)])).toEqual(customers.map((id) => [id, expected.get(id)]));
    // Counted on the serving reads' own connections: the workers' traffic goes through the relays too.
    expect(cluster.relays.map((relay) => relay.roundTripsOf('segments-serving-reads'))).toEqual([1, 1, 1]);
  });

  it('moves a customer when an order is inserted with plain SQL', async () => {
    const [lapsed] = await customersOf(`${EXPECTED.inactive} ORDER BY 1 LIMIT 1`, [await computedAt(ids.inactive)]);
    expect((await page([lapsed!]))[0]!.segments.map((s) => Number(s.id))).toContain(ids.inactive);
    await stores.pool.query(`INSERT INTO orders (id, customer_id, store_id, total_cents, created_at) VALUES ('cluster-order-1', $1, 'store-00007', 1500, now())`, [lapsed]);
    await expect.poll(async () => (await page([lapsed!]))[0]!.segments.map((s) => Number(s.id)), { timeout: 10_000, interval: 100 }).not.toContain(ids.inactive);
  });

  it('announces a rename to every process over the cluster pub/sub', async () => {
    const customer = [...(await inPostgres())].find(([, segments]) => segments.includes(ids.newToStores))![0];
    await page([customer]);
    const renamed = await execute(subgraph.url, `mutation ($id: ID!) { updateSegment(id: $id, input: { name: "Never ordered from partners" }) { id } }`, { id: String(ids.newToStores) }, admin);
    expect(renamed.errors).toBeUndefined();
    await expect
      .poll(async () => (await page([customer]))[0]!.segments.find((s) => Number(s.id) === ids.newToStores)?.name, { timeout: 5_000, interval: 50 })
      .toBe('Never ordered from partners');
  });

  it('marks a replacement in every shard before its changes and clears it in every shard after', async () => {
    const segmentId = 424_242;
    const replacing = async () => (await stores.servingStore.readMany(everyone)).replacing;
    // As a publication batch does, under the serving-store lock: the workers' publisher stays out meanwhile.
    await withServingStoreLock(stores.pool, 10_000, async () => {
      await stores.servingStore.applyChanges([{ id: '1', segmentId, customerId: everyone[0]!, change: 'ENTERED', at: new Date() }], undefined, { begin: [segmentId], end: [] });
      for (const shard of Array.from({ length: stores.keys.shards }, (_, s) => s)) {
        expect(await stores.redis.smembers(stores.keys.servingReplacing(shard))).toEqual([String(segmentId)]);
      }
      // A page of one customer, on any master, knows the segment is being replaced.
      for (const id of everyone.slice(0, 20)) expect((await stores.servingStore.readMany([id])).replacing).toEqual([segmentId]);
      await stores.servingStore.applyChanges([{ id: '2', segmentId, customerId: everyone[0]!, change: 'LEFT', at: new Date() }], undefined, { begin: [], end: [segmentId] });
      expect(await replacing()).toEqual([]);
    });
  });

  it('reads the customers of a master that restarted empty from Postgres, and the worker rebuilds its shards', async () => {
    const expected = await inPostgres();
    const onFirst = new Set((await keysOn(0, stores.keys.customerPattern)).map((key) => stores.keys.customerIdOf(key)));
    expect(onFirst.size).toBeGreaterThan(300);
    // A stale key on every master, for the rebuild's scan to find on each.
    const stale = ['gone-a', 'gone-b', 'gone-c', 'gone-d', 'gone-e', 'gone-f', 'gone-g', 'gone-h'];
    for (const id of stale) await stores.redis.hset(stores.keys.customer(id), '1', '1');
    const staleHolders = new Set<number>();
    for (const master of [0, 1, 2]) if ((await keysOn(master, `${stores.keys.prefix}c:*:gone-*`)).length > 0) staleHolders.add(master);
    expect(staleHolders.size).toBe(3);

    await cluster.masters[0]!.flushall();
    const gone = [...onFirst].slice(0, 50);
    const kept = everyone.filter((id) => !onFirst.has(id)).slice(0, 50);
    // What the rebuild brings back is served meanwhile from Postgres, the rest from Redis.
    const answered = await page([...gone, ...kept]);
    for (const entity of answered) expect(entity.segments.map((s) => Number(s.id)).sort((a, b) => a - b)).toEqual(expected.get(entity.id));

    await expect.poll(() => stores.servingStore.builtAt(), { timeout: 20_000, interval: 200 }).not.toBeNull();
    expect(await inRedis()).toEqual(expected);
    // The stale keys on the masters that kept their data went too.
    for (const master of [1, 2]) expect(await keysOn(master, `${stores.keys.prefix}c:*:gone-*`)).toEqual([]);
    expect((await page(gone)).every((e) => e.segmentsFreshness.source === 'REDIS')).toBe(true);
  });
});
