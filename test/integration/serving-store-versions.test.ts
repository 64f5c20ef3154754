import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';

type Change = { id: string; segmentId: number; customerId: string; change: 'ENTERED' | 'LEFT'; at: Date };
const enter = (id: number, customerId: string, atMs: number): Change => ({ id: String(id), segmentId: 7, customerId, change: 'ENTERED', at: new Date(atMs) });
const leave = (id: number, customerId: string): Change => ({ id: String(id), segmentId: 7, customerId, change: 'LEFT', at: new Date(0) });

describe('applying membership changes to Redis in any order', () => {
  let stores: TestStores;
  let customer = 0;
  beforeAll(async () => {
    stores = await createTestStores();
  });
  afterAll(async () => {
    await stores?.dispose();
  });

  /** Each batch applied on its own, one after the other, as separate publications would. */
  const applied = async (batches: (id: string) => Change[][]) => {
    const id = `v-${++customer}`;
    for (const batch of batches(id)) await stores.servingStore.applyChanges(batch);
    return { snapshot: (await stores.servingStore.readMany([id])).snapshots[0]!, member: await stores.redis.hexists(stores.keys.customer(id), '7') };
  };

  it.each([
    ['an enter then its leave', (c: string) => [[enter(3, c, 1000)], [leave(5, c)]], undefined],
    ['the leave first, its older enter late', (c: string) => [[leave(5, c)], [enter(3, c, 1000)]], undefined],
    ['a leave then a re-enter', (c: string) => [[leave(5, c)], [enter(7, c, 2000)]], 2000],
    ['the re-enter first, the older leave late', (c: string) => [[enter(7, c, 2000)], [leave(5, c)]], 2000],
    ['three changes shuffled', (c: string) => [[enter(9, c, 3000)], [enter(3, c, 1000)], [leave(5, c)]], 3000],
    ['a batch applied twice at once', (c: string) => [[enter(3, c, 1000), leave(5, c), enter(7, c, 2000)], [enter(3, c, 1000), leave(5, c), enter(7, c, 2000)]], 2000],
    ['a stale batch after a newer one', (c: string) => [[enter(3, c, 1000), leave(5, c)], [enter(3, c, 1000)]], undefined],
  ])('%s ends in the newest event', async (_, batches, enteredAt) => {
    const { snapshot, member } = await applied(batches);
    expect(snapshot.get(7)).toBe(enteredAt);
    // "Is C in S" is still one HEXISTS: a leave's event id is kept apart from the membership field.
    expect(member).toBe(enteredAt === undefined ? 0 : 1);
  });

  it('converges when two publishers apply the same changes side by side', async () => {
    const id = `v-${++customer}`;
    const changes = [enter(3, id, 1000), leave(5, id), enter(7, id, 2000), leave(9, id), enter(11, id, 4000)];
    await Promise.all([stores.servingStore.applyChanges(changes), stores.servingStore.applyChanges([...changes].reverse())]);
    expect((await stores.servingStore.readMany([id])).snapshots[0]!.get(7)).toBe(4000);
  });

  it('reads keys written before versions, and by a rebuild, as members', async () => {
    await stores.redis.hset(stores.keys.customer('v-old'), '7', '1234');
    expect((await stores.servingStore.readMany(['v-old'])).snapshots[0]!.get(7)).toBe(1234);
    // Any published event is newer than an unversioned value.
    await stores.servingStore.applyChanges([leave(1, 'v-old')]);
    expect((await stores.servingStore.readMany(['v-old'])).snapshots[0]!.has(7)).toBe(false);
  });
});
