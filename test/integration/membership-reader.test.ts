import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMembers, createSegment } from '../helpers/fixtures.js';
import { startTcpRelay, type TcpRelay } from '../helpers/tcp-relay.js';
import { createTestStores, REDIS_TARGET, type TestStores } from '../helpers/test-environment.js';

// A slow Redis is left for Postgres; a busy process is not mistaken for a slow Redis.
describe('MembershipReader timeouts', () => {
  let relay: TcpRelay;
  let stores: TestStores;

  beforeAll(async () => {
    relay = await startTcpRelay(REDIS_TARGET);
    // A long reset, so that a read that fails does not change the breaker's mind between reads.
    stores = await createTestStores({ redisUrl: `redis://127.0.0.1:${relay.port}`, serving: { redisTimeoutMs: 20, breakerResetMs: 60_000 } });
    const segment = await createSegment(stores, 'Served');
    await addMembers(stores, segment.id, ['c-1']);
    // Connects the lazy serving connection and loads the read script: the tests are about steady state.
    await stores.membershipReader.readMany(['c-1']);
  });
  afterAll(async () => {
    await stores?.dispose();
    await relay?.close();
  });

  /** Keeps the event loop running JavaScript, 15 ms at a time, until `work` settles. */
  const whileBusy = async <T>(work: Promise<T>): Promise<T> => {
    let settled = false;
    void work.finally(() => (settled = true)).catch(() => undefined);
    while (!settled) {
      const until = performance.now() + 15;
      while (performance.now() < until) {
        // spin
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    return work;
  };

  it('reads Redis when it answers in time', async () => {
    expect((await stores.membershipReader.readMany(['c-1'])).source).toBe('REDIS');
  });

  it('reads the same batch from Postgres when Redis answers later than the timeout', async () => {
    relay.delay(150);
    const read = await stores.membershipReader.readMany(['c-1']);
    expect(read.source).toBe('POSTGRES');
    expect([...read.snapshots[0]!.keys()]).toHaveLength(1);
  });

  it('waits for the same slow Redis while the process itself is busy', async () => {
    relay.delay(150);
    const read = await whileBusy(stores.membershipReader.readMany(['c-1']));
    expect(read.source).toBe('REDIS');
    expect([...read.snapshots[0]!.keys()]).toHaveLength(1);
    relay.delay(0);
  });
});
