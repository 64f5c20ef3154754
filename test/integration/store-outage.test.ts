import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMembers, createSegment } from '../helpers/fixtures.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { startSupergraph, type RunningSupergraph } from '../helpers/supergraph.js';
import { startTcpRelay, type TcpRelay } from '../helpers/tcp-relay.js';
import { createTestStores, POSTGRES_TARGET, REDIS_TARGET, type TestStores } from '../helpers/test-environment.js';

const BREAKER_RESET_MS = 300;

interface Page {
  customer: {
    name: string;
    isInSegment: boolean;
    segments: Array<{ name: string }>;
    segmentsFreshness: { source: string; status: string; upToDateAt: string | null };
  } | null;
}

// Redis and Postgres are reached through relays that the test stalls or cuts,
// and the page is asked for through @apollo/gateway with a customers subgraph
// beside this one, as a frontend would.
describe('membership reads when a store fails', () => {
  let redisRelay: TcpRelay;
  let postgresRelay: TcpRelay;
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let supergraph: RunningSupergraph;
  let segmentId: number;
  let publishedBefore: Date;

  beforeAll(async () => {
    redisRelay = await startTcpRelay(REDIS_TARGET);
    postgresRelay = await startTcpRelay(POSTGRES_TARGET);
    stores = await createTestStores({
      redisUrl: `redis://127.0.0.1:${redisRelay.port}`,
      postgresUrl: `postgres://postgres@127.0.0.1:${postgresRelay.port}`,
      serving: { redisTimeoutMs: 50, breakerResetMs: BREAKER_RESET_MS, postgresTimeoutMs: 500 },
    });
    subgraph = await startSubgraph(stores);
    supergraph = await startSupergraph(subgraph.url);
    segmentId = (await createSegment(stores, 'Served')).id;
    await addMembers(stores, segmentId, ['c-1']);
    publishedBefore = new Date();
  });
  afterAll(async () => {
    await redisRelay?.restore();
    await postgresRelay?.restore();
    await supergraph?.stop();
    await subgraph?.stop();
    await stores?.dispose();
    await redisRelay?.close();
    await postgresRelay?.close();
  });

  const page = async (customerId: string) => {
    const result = await execute<Page>(
      supergraph.url,
      `query ($id: ID!, $segment: ID!) {
         customer(id: $id) { name isInSegment(id: $segment) segments { name } segmentsFreshness { source status upToDateAt } }
       }`,
      { id: customerId, segment: String(segmentId) },
    );
    expect(result.errors).toBeUndefined();
    return result.data!.customer!;
  };
  const member = (customerId: string, source: string) => ({
    name: `Customer ${customerId}`,
    isInSegment: true,
    segments: [{ name: 'Served' }],
    segmentsFreshness: expect.objectContaining({ source }),
  });
  // A member that only Postgres knows: an answer that has it came from Postgres.
  const addInPostgresOnly = (customerId: string) =>
    stores.pool.query('INSERT INTO segment_memberships (segment_id, customer_id, since) VALUES ($1, $2, now())', [segmentId, customerId]);
  const backOnRedis = async () => {
    await expect.poll(async () => (await page('c-1')).segmentsFreshness.source, { timeout: 10_000, interval: 50 }).toBe('REDIS');
    expect(stores.membershipReader.breakerOpen).toBe(false);
  };

  it('serves from Redis, FRESH, up to date as of the last publication', async () => {
    const answer = await page('c-1');
    expect(answer).toEqual(member('c-1', 'REDIS'));
    expect(answer.segmentsFreshness.status).toBe('FRESH');
    const upToDateAt = new Date(answer.segmentsFreshness.upToDateAt!);
    expect(upToDateAt.getTime()).toBeLessThanOrEqual(publishedBefore.getTime());
    expect(upToDateAt.getTime()).toBeGreaterThan(publishedBefore.getTime() - 60_000);
  });

  it('keeps the page when Redis stalls: the same batch comes from Postgres, then the breaker skips Redis', async () => {
    await addInPostgresOnly('c-stall');
    redisRelay.stall();
    expect(await page('c-1')).toEqual(member('c-1', 'POSTGRES'));
    const answer = await page('c-stall');
    expect(answer).toEqual(member('c-stall', 'POSTGRES'));
    expect(answer.segmentsFreshness).toEqual({ source: 'POSTGRES', status: 'FRESH', upToDateAt: expect.any(String) });

    // Enough failed reads open the breaker; from then on a read sends nothing to Redis.
    const breakerOpenAfterARead = async () => {
      expect(await page('c-1')).toEqual(member('c-1', 'POSTGRES'));
      return stores.membershipReader.breakerOpen;
    };
    await expect.poll(breakerOpenAfterARead, { timeout: 5_000, interval: 0 }).toBe(true);
    redisRelay.reset();
    expect(await page('c-stall')).toEqual(member('c-stall', 'POSTGRES'));
    expect(await page('c-1')).toEqual(member('c-1', 'POSTGRES'));
    expect(redisRelay.bytesReceived).toBe(0);
  });

  it('returns to Redis by itself once Redis answers again', async () => {
    await redisRelay.restore();
    await backOnRedis();
    // Redis never heard of the member only Postgres has: the answer is Redis' own.
    expect((await page('c-stall')).isInSegment).toBe(false);
  });

  it('keeps the page when Redis refuses connections', async () => {
    await addInPostgresOnly('c-refused');
    await redisRelay.refuse();
    expect(await page('c-refused')).toEqual(member('c-refused', 'POSTGRES'));
    expect(await page('c-1')).toEqual(member('c-1', 'POSTGRES'));
    await redisRelay.restore();
    await backOnRedis();
  });

  it('reads Postgres while the serving keys are missing (Redis lost them), and Redis again once rebuilt', async () => {
    await stores.redis.unlink(stores.keys.servingBuilt(0));
    expect(await page('c-refused')).toEqual(member('c-refused', 'POSTGRES'));
    await stores.servingStore.markBuilt();
    await backOnRedis();
  });

  it('serves the defaults, and keeps the name, when Redis and Postgres both fail', async () => {
    await redisRelay.refuse();
    await postgresRelay.refuse();
    expect(await page('c-1')).toEqual({
      name: 'Customer c-1',
      isInSegment: false,
      segments: [],
      segmentsFreshness: { source: 'NONE', status: 'UNAVAILABLE', upToDateAt: null },
    });
    // A stalled Postgres as well: the fallback read gives up after its timeout.
    await postgresRelay.restore();
    postgresRelay.stall();
    expect((await page('c-1')).segmentsFreshness).toEqual({ source: 'NONE', status: 'UNAVAILABLE', upToDateAt: null });
    await postgresRelay.restore();
    await redisRelay.restore();
    await backOnRedis();
    expect(await page('c-1')).toEqual(member('c-1', 'REDIS'));
  });

  it('reads a segment being replaced from Postgres, and serves Redis for it when Postgres does not answer', async () => {
    await addInPostgresOnly('c-replaced');
    await stores.redis.sadd(stores.keys.servingReplacing(0), String(segmentId));
    try {
      // Redis knows nothing of c-replaced: the membership, and c-1's, come from Postgres.
      expect(await page('c-replaced')).toEqual(member('c-replaced', 'REDIS'));
      expect(await page('c-1')).toEqual(member('c-1', 'REDIS'));
      postgresRelay.stall();
      expect(await page('c-replaced')).toEqual({ ...member('c-replaced', 'REDIS'), isInSegment: false, segments: [] });
      expect(await page('c-1')).toEqual(member('c-1', 'REDIS'));
    } finally {
      await postgresRelay.restore();
      await stores.redis.del(stores.keys.servingReplacing(0));
    }
    expect((await page('c-replaced')).isInSegment).toBe(false);
  });

  it('says on /health/ready which store is away, and stays live on /health/live', async () => {
    const ready = () => fetch(new URL('/health/ready', subgraph.url)).then(async (r) => ({ status: r.status, body: await r.json() }));
    expect(await ready()).toEqual({ status: 200, body: { status: 'ok', checks: { postgres: 'ok', redis: 'ok' } } });
    await redisRelay.refuse();
    expect(await ready()).toEqual({ status: 503, body: { status: 'unavailable', checks: { postgres: 'ok', redis: 'failed' } } });
    expect((await fetch(new URL('/health/live', subgraph.url))).status).toBe(200);
    await redisRelay.restore();
    // A stalled Postgres fails its check within the check's timeout instead of holding the probe.
    postgresRelay.stall();
    const stalled = await ready();
    expect(stalled.status).toBe(503);
    expect(stalled.body).toMatchObject({ status: 'unavailable', checks: { postgres: 'failed' } });
    await postgresRelay.restore();
  });
});
