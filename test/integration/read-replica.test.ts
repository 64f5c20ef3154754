import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningWorkers } from '../../workers/index.js';
import { createSegment } from '../helpers/fixtures.js';
import { startPrimaryWithReplica, type PrimaryWithReplica } from '../helpers/postgres-replica.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { startTcpRelay, type TcpRelay } from '../helpers/tcp-relay.js';
import { createTestStores, REDIS_TARGET, type TestStores } from '../helpers/test-environment.js';
import { adminToken } from '../helpers/tokens.js';
import { startTestWorkers } from '../helpers/workers.js';

const PAGE = `query ($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { id segments { id } segmentsFreshness { source upToDateAt } } } }`;
const HISTORY = `query ($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { segmentHistory { edges { node { change segment { id } } } } } } }`;
const MAX_LAG_MS = 3000;

type Entity = { id: string; segments: Array<{ id: string }>; segmentsFreshness: { source: string; upToDateAt: string | null } };

describe('a streaming replica answers the reads that may lag, while it keeps up', () => {
  let postgres: PrimaryWithReplica;
  let redisRelay: TcpRelay;
  let stores: TestStores;
  let workers: RunningWorkers | undefined;
  let subgraph: RunningSubgraph;
  let segmentId: number;
  let admin: string;

  const page = async (...ids: string[]) => {
    const result = await execute(subgraph.url, PAGE, { r: ids.map((id) => ({ __typename: 'Customer', id })) });
    expect(result.errors).toBeUndefined();
    return result.data!._entities as Entity[];
  };
  const segmentsOf = async (id: string) => (await page(id))[0]!.segments.map((s) => Number(s.id));
  /** A membership committed on the primary only (its publication to Redis does not matter here: Redis is black-holed). */
  const enterOnPrimary = async (customerId: string) => {
    const added = await stores.memberships.add(segmentId, [{ customerId, since: new Date() }]);
    await stores.memberships.recordEvents(segmentId, added, 'ENTERED', { at: new Date(), cause: 'manual', segmentVersion: 1 });
  };

  beforeAll(async () => {
    postgres = await startPrimaryWithReplica();
    redisRelay = await startTcpRelay(REDIS_TARGET);
    stores = await createTestStores({
      postgresUrl: postgres.primaryUrl,
      replicaUrl: postgres.replicaUrl,
      replicaMaxLagMs: MAX_LAG_MS,
      redisUrl: `redis://127.0.0.1:${redisRelay.port}`,
      serving: { redisTimeoutMs: 50, breakerResetMs: 600_000, postgresTimeoutMs: 2000 },
    });
    segmentId = (await createSegment(stores, 'Replicated')).id;
    await enterOnPrimary('c-1');
    workers = await startTestWorkers(stores, { reconcileEveryMs: 3_600_000 });
    subgraph = await startSubgraph(stores);
    admin = await adminToken();
  }, 120_000);
  afterAll(async () => {
    await redisRelay?.restore();
    await workers?.close();
    await subgraph?.stop();
    await stores?.dispose();
    await redisRelay?.close();
    await postgres?.stop();
  });

  it('serves the fallback from the replica, as fresh as what it has replayed, and from the primary once it falls behind', async () => {
    // The workers' heartbeat reaches the replica, which is then read.
    await expect.poll(() => stores.readReplica()!.inUse, { timeout: 10_000, interval: 100 }).toBe(true);
    redisRelay.stall();
    expect(await page('c-1')).toEqual([{ id: 'c-1', segments: [{ id: String(segmentId) }], segmentsFreshness: expect.objectContaining({ source: 'POSTGRES' }) }]);

    await postgres.pauseReplay();
    const pausedAt = Date.now();
    await enterOnPrimary('c-2');
    // The replica has not replayed it: the fallback answers what the replica holds, and its freshness says so.
    const [stale] = await page('c-2');
    expect(stores.readReplica()!.inUse).toBe(true);
    expect(stale!.segments).toEqual([]);
    expect(new Date(stale!.segmentsFreshness.upToDateAt!).getTime()).toBeLessThanOrEqual(pausedAt);
    // Membership history is read there too.
    const history = await execute(subgraph.url, HISTORY, { r: [{ __typename: 'Customer', id: 'c-2' }] }, admin);
    expect(history.errors).toBeUndefined();
    expect(history.data!._entities[0].segmentHistory.edges).toEqual([]);

    // Past REPLICA_MAX_LAG_MS behind, the primary answers.
    await expect.poll(() => segmentsOf('c-2'), { timeout: 10_000, interval: 200 }).toEqual([segmentId]);
    expect(stores.readReplica()!.inUse).toBe(false);
    expect((await execute(subgraph.url, HISTORY, { r: [{ __typename: 'Customer', id: 'c-2' }] }, admin)).data!._entities[0].segmentHistory.edges).toEqual([{ node: { change: 'ENTERED', segment: { id: String(segmentId) } } }]);

    await postgres.resumeReplay();
    await expect.poll(() => stores.readReplica()!.inUse, { timeout: 10_000, interval: 100 }).toBe(true);
    expect(await segmentsOf('c-2')).toEqual([segmentId]);
  });

  it('reads the primary when the replica goes away', async () => {
    expect(stores.readReplica()!.inUse).toBe(true);
    await postgres.stopReplica();
    await enterOnPrimary('c-3');
    // The read the replica cannot answer goes to the primary at once.
    expect(await segmentsOf('c-3')).toEqual([segmentId]);
    await expect.poll(() => stores.readReplica()!.inUse, { timeout: 5_000, interval: 100 }).toBe(false);
    expect(await segmentsOf('c-1')).toEqual([segmentId]);
  });
});
