import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMembers, createSegment } from '../helpers/fixtures.js';
import { startRedisRoundTripCounter, type RedisRoundTripCounter } from '../helpers/redis-round-trip-counter.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';

// Redis is reached through a relay that the test can cut, to see what callers
// get while the serving store is away.
describe('while Redis is unreachable', () => {
  let relay: RedisRoundTripCounter;
  let stores: TestStores;
  let subgraph: RunningSubgraph;

  beforeAll(async () => {
    relay = await startRedisRoundTripCounter();
    stores = await createTestStores({ redisUrl: relay.url });
    subgraph = await startSubgraph(stores);
    const segment = await createSegment(stores, 'Served');
    await addMembers(stores, segment.id, ['c-1']);
  });
  afterAll(async () => {
    await subgraph?.stop();
    await stores?.dispose();
  });

  it('reports ready while both stores answer', async () => {
    const response = await fetch(new URL('/health/ready', subgraph.url));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('fails membership fields with a bare INTERNAL_SERVER_ERROR and no internals', async () => {
    await relay.close();
    const result = await execute(
      subgraph.url,
      `query ($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { id segments { id } } } }`,
      { r: [{ __typename: 'Customer', id: 'c-1' }] },
    );
    expect(result.errors).toEqual([
      { message: 'Internal server error', path: ['_entities', 0, 'segments'], extensions: { code: 'INTERNAL_SERVER_ERROR' } },
    ]);
  });

  it('reports not ready on /health/ready and stays live on /health/live', async () => {
    const ready = await fetch(new URL('/health/ready', subgraph.url));
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'unavailable' });
    expect((await fetch(new URL('/health/live', subgraph.url))).status).toBe(200);
  });
});
