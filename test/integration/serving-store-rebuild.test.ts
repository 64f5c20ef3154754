import { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMaintenanceQueue, MAINTENANCE_QUEUE, requestServingStoreRebuild, type MaintenanceQueue } from '../../src/jobs/maintenance-queue.js';
import { bullConnection } from '../../src/stores/redis/bull-connection.js';
import { createLogger } from '../../src/platform/logger.js';
import { startWorkers, type RunningWorkers } from '../../workers/index.js';
import { createSegment } from '../helpers/fixtures.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, TEST_REDIS_URL, type TestStores } from '../helpers/test-environment.js';

const CUSTOMERS = 12_000; // more than two rebuild batches

describe('rebuilding the Redis serving store from Postgres', () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let workers: RunningWorkers | undefined;
  let queue: MaintenanceQueue;
  let events: QueueEvents;
  let big: number;
  let small: number;

  beforeAll(async () => {
    stores = await createTestStores({ servingBuilt: false });
    subgraph = await startSubgraph(stores);
    big = (await createSegment(stores, 'Big')).id;
    small = (await createSegment(stores, 'Small')).id;
    // Memberships that exist only in Postgres, as after Redis lost its data.
    await stores.pool.query(
      `INSERT INTO segment_memberships (segment_id, customer_id, since)
       SELECT $1::int, 'c-' || i, timestamptz '2026-02-01T00:00:00Z' + i * interval '1 second' FROM generate_series(1, $3::int) AS i
       UNION ALL
       SELECT $2::int, 'c-' || i, timestamptz '2026-03-01T00:00:00Z' FROM generate_series(1, $3::int, 1000) AS i`,
      [big, small, CUSTOMERS],
    );
    // A key Postgres knows nothing about, and one that disagrees with it.
    await stores.redis.hset(stores.keys.customer('c-gone'), String(big), '1');
    await stores.redis.hset(stores.keys.customer('c-2'), String(small), '1');
    const connection = bullConnection({ url: TEST_REDIS_URL }, 'test');
    queue = createMaintenanceQueue(connection, stores.keys);
    events = new QueueEvents(MAINTENANCE_QUEUE, { connection, prefix: stores.keys.bullPrefix(MAINTENANCE_QUEUE) });
    await events.waitUntilReady();
  });
  afterAll(async () => {
    await workers?.close();
    await events?.close();
    await queue?.close();
    await subgraph?.stop();
    await stores?.dispose();
  });

  const memberships = async (...ids: string[]) =>
    (
      await execute(
        subgraph.url,
        `query ($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { id segmentMemberships { since segment { name } } } } }`,
        { r: ids.map((id) => ({ __typename: 'Customer', id })) },
      )
    ).data!._entities;

  it('runs when a worker starts and finds the serving store missing', async () => {
    expect(await stores.servingStore.builtAt()).toBeNull();
    const completed = new Promise<unknown>((resolve) =>
      events.on('completed', ({ returnvalue }) => resolve(returnvalue)),
    );
    workers = await startWorkers({ redis: stores.redisTarget, stores, logger: createLogger('silent') });

    expect(await completed).toEqual({ customersWritten: CUSTOMERS, staleKeysRemoved: 1 });
    expect(await stores.servingStore.builtAt()).toBeInstanceOf(Date);
    expect(await memberships('c-1', 'c-2', 'c-12000', 'c-gone')).toEqual([
      {
        id: 'c-1',
        segmentMemberships: [
          { since: '2026-02-01T00:00:01.000Z', segment: { name: 'Big' } },
          { since: '2026-03-01T00:00:00.000Z', segment: { name: 'Small' } },
        ],
      },
      { id: 'c-2', segmentMemberships: [{ since: '2026-02-01T00:00:02.000Z', segment: { name: 'Big' } }] },
      { id: 'c-12000', segmentMemberships: [{ since: '2026-02-01T03:20:00.000Z', segment: { name: 'Big' } }] },
      { id: 'c-gone', segmentMemberships: [] },
    ]);
    const keys = await stores.redis.keys(stores.keys.customerPattern);
    expect(keys).toHaveLength(CUSTOMERS);
  });

  it('gives the same store when asked again, and skips the periodic check once built', async () => {
    const before = await stores.redis.hgetall(stores.keys.customer('c-1001'));
    const forced = await requestServingStoreRebuild(queue, { onlyIfMissing: false });
    expect(await forced.waitUntilFinished(events, 30_000)).toEqual({ customersWritten: CUSTOMERS, staleKeysRemoved: 0 });
    expect(await stores.redis.hgetall(stores.keys.customer('c-1001'))).toEqual(before);

    const check = await requestServingStoreRebuild(queue, { onlyIfMissing: true });
    expect(await check.waitUntilFinished(events, 30_000)).toEqual({ skipped: 'serving store is built' });
  });
});
