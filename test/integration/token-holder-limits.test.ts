import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';
import { adminToken } from '../helpers/tokens.js';

// Issue 16, "Cost is per operation ... token holders are bounded too".
describe('limits for token holders', () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let admin: string;

  beforeAll(async () => {
    stores = await createTestStores();
    subgraph = await startSubgraph(stores, { introspection: true, landingPage: false }, { api: { maxLiveSegments: 3 } });
    admin = await adminToken();
  });
  afterAll(async () => {
    await subgraph?.stop();
    await stores?.dispose();
  });

  const create = (name: string, key?: string) =>
    execute<{ createSegment: { id: string } }>(subgraph.url, `mutation ($n: String!, $k: String) { createSegment(input: { name: $n, idempotencyKey: $k }) { id } }`, { n: name, k: key ?? null }, admin);
  const live = async () => (await stores.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM segments WHERE status <> 'ARCHIVED'`)).rows[0]!.n;

  it('refuses a create past MAX_LIVE_SEGMENTS with a code, until one is archived', async () => {
    const first = await create('one', 'key-1');
    await create('two');
    await create('three');
    expect(await live()).toBe(3);

    const refused = await create('four');
    expect(refused.data).toBeNull();
    expect(refused.errors?.[0]).toMatchObject({
      path: ['createSegment'],
      extensions: { code: 'QUOTA_EXCEEDED', limit: 'maxLiveSegments', max: 3 },
    });
    expect(await live()).toBe(3);
    // A retried create of a segment that exists is answered, not refused.
    expect((await create('one', 'key-1')).data?.createSegment.id).toBe(first.data?.createSegment.id);

    await execute(subgraph.url, `mutation ($id: ID!) { archiveSegment(id: $id) { id } }`, { id: first.data!.createSegment.id }, admin);
    const after = await create('four');
    expect(after.errors).toBeUndefined();
    expect(await live()).toBe(3);
  });

  it.each([
    [`{ segments(first: 20) { edges { node { sizeHistory(days: 30) { size } } } } }`, {}, null],
    [`{ segments(first: 100) { edges { node { sizeHistory(days: 366) { size } } } } }`, {}, 100],
    [`query ($n: Int) { segments(first: $n) { edges { node { membershipChanges(first: 1) { edges { cursor } } sizeHistory { size } } } } }`, { n: 15 }, 30],
    // 20 when `first` is omitted; each alias reads its own histories.
    [`{ a: segments { edges { node { sizeHistory { size } } } } b: segments { edges { node { sizeHistory { size } } } } }`, {}, 40],
    [`query ($r: [_Any!]!) { _entities(representations: $r) { ... on Segment { sizeHistory { size } } } }`, { r: Array.from({ length: 25 }, (_, i) => ({ __typename: 'Segment', id: String(i + 1) })) }, 25],
  ])('counts the segment histories an operation may read: %s', async (query, variables, refusedAt) => {
    const result = await execute(subgraph.url, query, variables, admin);
    if (refusedAt === null) {
      expect(result.errors).toBeUndefined();
    } else {
      expect(result.errors?.[0]?.extensions).toEqual({ code: 'COST_LIMIT_EXCEEDED', limit: 'maxHistoryScans' });
      expect(result.errors?.[0]?.message).toContain(`the history of ${refusedAt} segments`);
    }
  });

  it('refuses a refresh period under 15 minutes', async () => {
    const result = await execute(subgraph.url, `mutation { createSegment(input: { name: "often", rule: { lastOrder: { olderThanDays: 3 } }, refreshEveryMinutes: 5 }) { id } }`, {}, admin);
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.refreshEveryMinutes' });
    expect(result.errors?.[0]?.message).toMatch(/between 15 and 10080/);
  });
});
