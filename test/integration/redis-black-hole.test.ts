import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { addMembers, createSegment } from '../helpers/fixtures.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { startSupergraph, type RunningSupergraph } from '../helpers/supergraph.js';
import { startTcpRelay, type TcpRelay } from '../helpers/tcp-relay.js';
import { createTestStores, REDIS_TARGET, type TestStores } from '../helpers/test-environment.js';
import { adminToken } from '../helpers/tokens.js';
import { startTestWorkers } from '../helpers/workers.js';
import type { RunningWorkers } from '../../workers/index.js';

// Issue 16, "Dead connections are replaced": the connections open to Redis
// are black-holed (the sockets stay open, bytes vanish) and new connections
// then work, as after a failover behind a DNS name. Every connection whose
// commands go unanswered must be dropped and reopened.
describe('a Redis whose open connections were black-holed', () => {
  let relay: TcpRelay;
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let supergraph: RunningSupergraph;
  let workers: RunningWorkers;
  let staticId: number;
  let ruleId: string;

  beforeAll(async () => {
    relay = await startTcpRelay(REDIS_TARGET);
    const redisUrl = `redis://127.0.0.1:${relay.port}`;
    stores = await createTestStores({ redisUrl, serving: { redisTimeoutMs: 50, breakerResetMs: 1000, postgresTimeoutMs: 1000 } });
    subgraph = await startSubgraph(stores);
    supergraph = await startSupergraph(subgraph.url);
    workers = await startTestWorkers(stores);
    staticId = (await createSegment(stores, 'Served')).id;
    await addMembers(stores, staticId, ['c-1']);
    await stores.pool.query(`INSERT INTO customers (id, country) VALUES ('c-new', 'DE')`);
    const created = await execute(
      subgraph.url,
      `mutation { createSegment(input: { name: "Ordered at Z", rule: { orderCount: { op: GTE, value: 1, filter: { storeIds: ["store-z"] } } } }) { id } }`,
      {},
      await adminToken(),
    );
    ruleId = created.data!.createSegment.id;
    await vi.waitFor(
      async () => expect((await stores.pool.query(`SELECT last_computed_at FROM segments WHERE id = $1`, [ruleId])).rows[0].last_computed_at).not.toBeNull(),
      { timeout: 20_000, interval: 100 },
    );
  });
  afterAll(async () => {
    await relay?.restore();
    await workers?.close();
    await supergraph?.stop();
    await subgraph?.stop();
    await stores?.dispose();
    await relay?.close();
  });

  const page = async (customerId: string, segmentId: string | number) => {
    const result = await execute<{ customer: { isInSegment: boolean; segmentsFreshness: { source: string } } }>(
      supergraph.url,
      `query ($id: ID!, $s: ID!) { customer(id: $id) { isInSegment(id: $s) segmentsFreshness { source } } }`,
      { id: customerId, s: String(segmentId) },
    );
    expect(result.errors).toBeUndefined();
    return result.data!.customer;
  };

  it('serves from Redis again within 20 s, and an order written meanwhile is served from Redis within 30 s', async () => {
    expect(await page('c-1', staticId)).toEqual({ isInSegment: true, segmentsFreshness: { source: 'REDIS' } });
    expect(await page('c-new', ruleId)).toEqual({ isInSegment: false, segmentsFreshness: { source: 'REDIS' } });

    relay.stall();
    // Publication's connection too has something to send and nothing comes back: an order flips a membership.
    await stores.pool.query(`INSERT INTO orders (id, customer_id, store_id, total_cents) VALUES ('o-z-1', 'c-new', 'store-z', 1000)`);
    await expect.poll(async () => (await page('c-1', staticId)).segmentsFreshness.source, { timeout: 10_000, interval: 100 }).toBe('POSTGRES');
    await new Promise((resolve) => setTimeout(resolve, 2000));

    relay.heal();
    const healed = Date.now();
    await expect.poll(async () => (await page('c-1', staticId)).segmentsFreshness.source, { timeout: 20_000, interval: 200 }).toBe('REDIS');
    expect(Date.now() - healed).toBeLessThan(20_000);
    await expect.poll(async () => page('c-new', ruleId), { timeout: 30_000 - (Date.now() - healed), interval: 200 }).toEqual({
      isInSegment: true,
      segmentsFreshness: { source: 'REDIS' },
    });
    expect(Date.now() - healed).toBeLessThan(30_000);

    // BullMQ's connections (the relay's queue, the worker and its blocking connection) were black-holed too.
    const before = (await stores.pool.query(`SELECT last_computed_at FROM segments WHERE id = $1`, [ruleId])).rows[0].last_computed_at as Date;
    const asked = await execute(subgraph.url, `mutation ($id: ID!) { recomputeSegment(id: $id) { id } }`, { id: ruleId }, await adminToken());
    expect(asked.errors).toBeUndefined();
    await vi.waitFor(
      async () => expect(((await stores.pool.query(`SELECT last_computed_at FROM segments WHERE id = $1`, [ruleId])).rows[0].last_computed_at as Date).getTime()).toBeGreaterThan(before.getTime()),
      { timeout: 60_000, interval: 250 },
    );
  }, 150_000);
});
