import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
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

describe("the API's own Postgres pools", () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let admin: string;

  beforeAll(async () => {
    stores = await createTestStores({ apiStatementTimeoutMs: 500 });
    subgraph = await startSubgraph(stores);
    admin = await adminToken();
  });
  afterAll(async () => {
    await subgraph?.stop();
    await stores?.dispose();
  });

  it('bounds each statement of a request by the statement timeout, and leaves the workers pool without one', async () => {
    const holder = await stores.pool.connect();
    try {
      // Another session holds the segments table: a request's read waits on it until its statement times out.
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE segments IN ACCESS EXCLUSIVE MODE');
      const started = Date.now();
      const result = await execute(subgraph.url, '{ segments(first: 5) { totalCount } }', {}, admin);
      expect(Date.now() - started).toBeLessThan(3000);
      expect(result.errors?.[0]).toMatchObject({ path: ['segments'], extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    expect((await stores.apiPool.query<{ t: string }>("SELECT current_setting('statement_timeout') AS t")).rows[0]!.t).toBe('500ms');
    expect((await stores.pool.query<{ t: string }>("SELECT current_setting('statement_timeout') AS t")).rows[0]!.t).toBe('0');
  });

  it('runs a member import on connections of its own, not the API pool', async () => {
    const segment = await execute<{ createSegment: { id: string } }>(subgraph.url, 'mutation { createSegment(input: { name: "ML" }) { id } }', {}, admin);
    const id = segment.data!.createSegment.id;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(new TextEncoder().encode('c-1\nc-2\n'));
        await gate;
        controller.enqueue(new TextEncoder().encode('c-3\n'));
        controller.close();
      },
    });
    const upload = fetch(new URL(`/admin/segments/${id}/members`, subgraph.url), {
      method: 'PUT',
      headers: { 'content-type': 'text/csv', authorization: `Bearer ${admin}` },
      body,
      duplex: 'half',
    });
    const applications = async () =>
      (await stores.pool.query<{ name: string }>(`SELECT application_name AS name FROM pg_stat_activity WHERE datname = current_database() AND state <> 'idle'`)).rows.map((r) => r.name);
    await vi.waitFor(async () => expect(await applications()).toContain('segments-member-import'), { timeout: 5000, interval: 50 });
    expect(await applications()).not.toContain('segments-api');
    release();
    expect((await upload).status).toBe(200);
    const members = await stores.pool.query<{ id: string }>('SELECT customer_id AS id FROM segment_memberships WHERE segment_id = $1 ORDER BY 1', [id]);
    expect(members.rows.map((r) => r.id)).toEqual(['c-1', 'c-2', 'c-3']);
  });
});
