import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/platform/logger.js';
import { publishMembershipEvents } from '../../src/pipeline/publish-membership-events.js';
import { ServingReconciler } from '../../src/pipeline/serving-reconciler.js';
import { addMembers, createSegment } from '../helpers/fixtures.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';

describe('the serving-store reconciler', () => {
  let stores: TestStores;
  let reconciler: ServingReconciler;
  let first: number;
  let second: number;

  beforeAll(async () => {
    stores = await createTestStores();
    first = (await createSegment(stores, 'First')).id;
    second = (await createSegment(stores, 'Second')).id;
    await addMembers(stores, first, ['a', 'b', 'c']);
    reconciler = newReconciler(0);
  });
  afterAll(async () => {
    await stores?.dispose();
  });

  /** A worker's reconciler: two customers a round, a round due `everyMs` after the last one (any worker's). */
  const newReconciler = (everyMs: number) =>
    new ServingReconciler({ pool: stores.pool, memberships: stores.memberships, servingStore: stores.servingStore, logger: createLogger('silent') }, { batch: 2, everyMs });
  const servedSegments = async (id: string) => [...(await stores.servingStore.readMany([id])).snapshots[0]!.keys()].sort((x, y) => x - y);
  /** A whole walk over the three customers, two per round: a, b, then c. */
  const walk = async () => {
    const rounds = [await reconciler.reconcileNext(), await reconciler.reconcileNext()];
    return { checked: rounds[0]!.checked + rounds[1]!.checked, drifted: rounds.flatMap((r) => r!.drifted) };
  };

  it('finds nothing to repair when Redis holds what was published', async () => {
    expect(await walk()).toEqual({ checked: 3, drifted: [] });
  });

  it('rewrites a key that differs, and leaves a customer with unpublished events to the publisher', async () => {
    await stores.redis.hdel(stores.keys.customer('a'), String(first));
    await stores.redis.hset(stores.keys.customer('c'), '424242', '1');
    // b enters a segment in Postgres; its event waits in the outbox.
    const added = await stores.memberships.add(second, [{ customerId: 'b', since: new Date('2026-02-01T00:00:00Z') }]);
    await stores.memberships.recordEvents(second, added, 'ENTERED', { at: new Date('2026-02-01T00:00:00Z'), cause: 'manual', segmentVersion: 1 });

    expect(await walk()).toEqual({ checked: 2, drifted: ['a', 'c'] });
    expect(await servedSegments('a')).toEqual([first]);
    expect(await servedSegments('c')).toEqual([first]);
    expect(await servedSegments('b')).toEqual([first]);

    await publishMembershipEvents({ pool: stores.pool, servingStore: stores.servingStore, stream: stores.eventStream });
    expect(await servedSegments('b')).toEqual([first, second]);
    expect(await walk()).toEqual({ checked: 3, drifted: [] });
  });

  it('shares one walk and one round a period between the workers', async () => {
    const otherWorker = newReconciler(0);
    // The walk stands at its start: this round takes a and b, the other worker's goes on with c.
    expect((await reconciler.reconcileNext())?.checked).toBe(2);
    expect((await otherWorker.reconcileNext())?.checked).toBe(1);
    // A worker whose period (a minute) has not passed since that round leaves its turn.
    expect(await newReconciler(60_000).reconcileNext()).toBeNull();
    // The walk wrapped around after c.
    expect((await reconciler.reconcileNext())?.checked).toBe(2);
  });
});
