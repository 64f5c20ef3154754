import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { freePort } from '../../scripts/free-port.js';
import { addMembers, createSegment } from '../helpers/fixtures.js';
import { spawnService } from '../helpers/service-process.js';
import { startTcpRelay, type TcpRelay } from '../helpers/tcp-relay.js';
import { createTestStores, REDIS_TARGET, type TestStores } from '../helpers/test-environment.js';

// Issue 16, "Friction": the subgraph starts while Redis is down, not ready and
// serving from Postgres, and becomes ready when Redis returns.
describe('a subgraph started while Redis is down', () => {
  let relay: TcpRelay;
  let stores: TestStores;
  let segmentId: number;

  beforeAll(async () => {
    relay = await startTcpRelay(REDIS_TARGET);
    stores = await createTestStores();
    segmentId = (await createSegment(stores, 'Served')).id;
    await addMembers(stores, segmentId, ['c-1']);
    await relay.refuse();
  });
  afterAll(async () => {
    await stores?.dispose();
    await relay?.close();
  });

  it('answers from Postgres, reports Redis not ready, and is ready once Redis returns', async () => {
    const port = await freePort();
    const service = spawnService('subgraph', {
      NODE_ENV: 'development',
      DATABASE_URL: stores.namespace.databaseUrl,
      REDIS_URL: `redis://127.0.0.1:${relay.port}`,
      REDIS_PREFIX: stores.namespace.redisPrefix,
      PORT: String(port),
      LOG_LEVEL: 'error',
    });
    const url = `http://127.0.0.1:${port}/`;
    const source = async () => {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: `{ _entities(representations: [{ __typename: "Customer", id: "c-1" }]) { ... on Customer { isInSegment(id: "${segmentId}") segmentsFreshness { source } } } }` }),
      });
      return ((await response.json()) as { data: { _entities: Array<{ isInSegment: boolean; segmentsFreshness: { source: string } }> } }).data._entities[0];
    };
    try {
      await vi.waitFor(async () => expect((await fetch(`${url}health/live`)).status).toBe(200), { timeout: 20_000, interval: 200 });
      const ready = await fetch(`${url}health/ready`);
      expect(ready.status).toBe(503);
      expect(JSON.stringify(await ready.json())).toContain('redis');
      expect(await source()).toEqual({ isInSegment: true, segmentsFreshness: { source: 'POSTGRES' } });

      await relay.restore();
      await vi.waitFor(async () => expect((await fetch(`${url}health/ready`)).status).toBe(200), { timeout: 20_000, interval: 200 });
      await vi.waitFor(async () => expect(await source()).toEqual({ isInSegment: true, segmentsFreshness: { source: 'REDIS' } }), { timeout: 20_000, interval: 200 });
    } finally {
      await service.stop();
    }
  }, 60_000);
});
