import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RunningWorkers } from '../../workers/index.js';
import { createSegment, segmentSizes } from '../helpers/fixtures.js';
import { execute, startSubgraph, type GraphQLResponse, type RunningSubgraph } from '../helpers/subgraph.js';
import { startSupergraph, type RunningSupergraph } from '../helpers/supergraph.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';
import { adminToken, readerToken, token } from '../helpers/tokens.js';
import { startTestWorkers } from '../helpers/workers.js';

const DAY_MS = 86_400_000;
const NODE = 'segment { id } customer { id name } change at cause segmentVersion';
const CONNECTION = `edges { cursor node { ${NODE} } } pageInfo { hasNextPage endCursor }`;
const CUSTOMER_HISTORY = `query ($customer: ID!, $segmentId: ID, $first: Int, $after: String) {
  customer(id: $customer) { id name segmentHistory(segmentId: $segmentId, first: $first, after: $after) { ${CONNECTION} } } }`;
const SEGMENT_CHANGES = `query ($id: ID!, $first: Int, $after: String, $since: DateTime) {
  segment(id: $id) { id membershipChanges(first: $first, after: $after, since: $since) { ${CONNECTION} } } }`;
const SIZE_HISTORY = `query ($id: ID!, $days: Int) { segment(id: $id) { sizeHistory(days: $days) { day size } } }`;
const CREATE = `mutation ($input: CreateSegmentInput!) { createSegment(input: $input) { id } }`;
const ADD = `mutation ($id: ID!, $ids: [ID!]!) { addSegmentMembers(id: $id, customerIds: $ids) { id } }`;
const REMOVE = `mutation ($id: ID!, $ids: [ID!]!) { removeSegmentMembers(id: $id, customerIds: $ids) { id } }`;

interface Change {
  segment: { id: string };
  customer: { id: string; name: string };
  change: 'ENTERED' | 'LEFT';
  at: string;
  cause: string;
  segmentVersion: number;
}
interface Connection {
  edges: Array<{ cursor: string; node: Change }>;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

describe('membership history through the supergraph', () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let supergraph: RunningSupergraph;
  let workers: RunningWorkers | undefined;
  let admin: string;
  let reader: string;
  let vip: string;
  let buyers: string;

  const run = (query: string, variables: Record<string, unknown>, bearer: string | null = reader) =>
    execute(supergraph.url, query, variables, bearer ?? undefined);
  const ok = async (query: string, variables: Record<string, unknown>, bearer: string = reader) => {
    const result = await run(query, variables, bearer);
    expect(result.errors).toBeUndefined();
    return result.data!;
  };
  const customerHistory = async (customer: string, args: Record<string, unknown> = {}): Promise<Connection> =>
    (await ok(CUSTOMER_HISTORY, { customer, ...args })).customer.segmentHistory;
  const segmentChanges = async (id: string, args: Record<string, unknown> = {}): Promise<Connection> =>
    (await ok(SEGMENT_CHANGES, { id, ...args })).segment.membershipChanges;
  /** Every change, a page of `first` at a time, following endCursor. */
  const allPages = async (fetch: (after: string | null) => Promise<Connection>) => {
    const pages: Connection[] = [];
    for (let after: string | null = null; ; ) {
      const page = await fetch(after);
      pages.push(page);
      if (!page.pageInfo.hasNextPage) return pages;
      after = page.pageInfo.endCursor;
    }
  };
  /** The changes as Postgres holds them, newest first (by at, then id), for comparison. */
  const recorded = async (where: string, values: unknown[]) =>
    (
      await stores.pool.query<{ segment: string; customer: string; change: string; at: Date; cause: string; version: number }>(
        `SELECT segment_id::text AS segment, customer_id AS customer, change, at, cause, segment_version AS version
           FROM segment_membership_events WHERE ${where} ORDER BY at DESC, id DESC`,
        values,
      )
    ).rows.map((e) => ({
      segment: { id: e.segment },
      customer: { id: e.customer, name: `Customer ${e.customer}` },
      change: e.change,
      at: e.at.toISOString(),
      cause: e.cause.toUpperCase(),
      segmentVersion: e.version,
    }));
  const expectBadInput = (result: GraphQLResponse, field: string) => {
    expect(result.errors).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_USER_INPUT', field }) })]);
  };

  beforeAll(async () => {
    stores = await createTestStores();
    subgraph = await startSubgraph(stores);
    supergraph = await startSupergraph(subgraph.url);
    workers = await startTestWorkers(stores);
    admin = await adminToken();
    reader = await readerToken();

    // c-1 has ordered at s-1 before the RULE segment exists: its recompute enters it (SCHEDULE).
    await stores.pool.query(`INSERT INTO customers (id, country) VALUES ('c-1', 'DE'), ('c-2', 'DE'), ('c-5', 'FR')`);
    await stores.pool.query(`INSERT INTO orders (id, customer_id, store_id, total_cents) VALUES ('o-1', 'c-1', 's-1', 100)`);
    // The order is evaluated before the segment exists (an order evaluated after would enter it with cause EVENT).
    await vi.waitFor(async () => expect((await stores.pool.query('SELECT count(*)::int AS n FROM customer_change_outbox')).rows[0].n).toBe(0), {
      timeout: 10_000,
    });
    buyers = (await ok(CREATE, { input: { name: 'buyers at s-1', rule: { orderCount: { filter: { storeIds: ['s-1'] }, op: 'GTE', value: 1 } } } }, admin))
      .createSegment.id;
    const sizeIs = (size: number) =>
      vi.waitFor(async () => expect((await segmentSizes(stores, [Number(buyers)])).get(Number(buyers))).toBe(size), {
        timeout: 30_000,
        interval: 100,
      });
    await sizeIs(1);
    // An order of c-5 reaches the workers through the change outbox: the event path enters it (EVENT).
    await stores.pool.query(`INSERT INTO orders (id, customer_id, store_id, total_cents) VALUES ('o-2', 'c-5', 's-1', 100)`);
    await sizeIs(2);

    // An admin adds and removes STATIC members (MANUAL).
    vip = (await ok(CREATE, { input: { name: 'vip' } }, admin)).createSegment.id;
    await ok(ADD, { id: vip, ids: ['c-1', 'c-2', 'c-3'] }, admin);
    await ok(REMOVE, { id: vip, ids: ['c-2'] }, admin);
  }, 120_000);
  afterAll(async () => {
    await workers?.close();
    await supergraph?.stop();
    await subgraph?.stop();
    await stores?.dispose();
  });

  it("lists a customer's changes in every segment, newest first, with their causes", async () => {
    const history = await customerHistory('c-1');
    expect(history.edges.map((e) => e.node)).toEqual(await recorded('customer_id = $1', ['c-1']));
    expect(history.edges.map((e) => [e.node.segment.id, e.node.change, e.node.cause])).toEqual([
      [vip, 'ENTERED', 'MANUAL'],
      [buyers, 'ENTERED', 'SCHEDULE'],
    ]);
    expect(history.pageInfo).toEqual({ hasNextPage: false, endCursor: history.edges[1]!.cursor });

    expect((await customerHistory('c-5')).edges.map((e) => [e.node.segment.id, e.node.change, e.node.cause, e.node.segmentVersion])).toEqual([
      [buyers, 'ENTERED', 'EVENT', 1],
    ]);
    expect((await customerHistory('c-2')).edges.map((e) => [e.node.change, e.node.cause])).toEqual([
      ['LEFT', 'MANUAL'],
      ['ENTERED', 'MANUAL'],
    ]);
    // Entities from the customers subgraph: the name comes from there, through the router.
    expect(history.edges[0]!.node.customer).toEqual({ id: 'c-1', name: 'Customer c-1' });
  });

  it('filters a customer history by segment; an unknown customer or segment has none', async () => {
    const history = await customerHistory('c-1', { segmentId: buyers });
    expect(history.edges.map((e) => e.node)).toEqual(await recorded('customer_id = $1 AND segment_id = $2', ['c-1', buyers]));
    expect(history.edges).toHaveLength(1);
    expect((await customerHistory('c-404')).edges).toEqual([]);
    expect(await customerHistory('c-1', { segmentId: '999999' })).toEqual({ edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
    expect((await customerHistory('c-1', { segmentId: 'not-an-id' })).edges).toEqual([]);
  });

  it('pages a segment newest first with cursors that stay valid while changes are recorded', async () => {
    const big = (await ok(CREATE, { input: { name: 'big static' } }, admin)).createSegment.id;
    const ids = Array.from({ length: 25 }, (_, i) => `m-${String(i).padStart(2, '0')}`);
    await ok(ADD, { id: big, ids }, admin);
    await ok(REMOVE, { id: big, ids: ids.slice(0, 10) }, admin);
    const expected = await recorded('segment_id = $1', [big]);
    expect(expected).toHaveLength(35);

    const pages = await allPages((after) => segmentChanges(big, { first: 10, after }));
    expect(pages.map((p) => p.edges.length)).toEqual([10, 10, 10, 5]);
    expect(pages.flatMap((p) => p.edges.map((e) => e.node))).toEqual(expected);
    for (const page of pages) expect(page.pageInfo.endCursor).toBe(page.edges[page.edges.length - 1]!.cursor);

    // New changes go on top: the second page after the first page's cursor is the same as before.
    await ok(ADD, { id: big, ids: ['m-new-1', 'm-new-2'] }, admin);
    expect(await segmentChanges(big, { first: 10, after: pages[0]!.pageInfo.endCursor })).toEqual(pages[1]);
    // Any edge's cursor continues right after that edge.
    const fromEdge = await segmentChanges(big, { first: 3, after: pages[1]!.edges[4]!.cursor });
    expect(fromEdge.edges.map((e) => e.node)).toEqual(expected.slice(15, 18));
    expect((await segmentChanges(big, { first: 100 })).edges).toHaveLength(37);
  });

  it('pages a customer across segments the same way', async () => {
    const segments = [];
    for (let i = 0; i < 3; i++) segments.push((await ok(CREATE, { input: { name: `pager ${i}` } }, admin)).createSegment.id);
    for (const id of segments) {
      await ok(ADD, { id, ids: ['c-pager'] }, admin);
      await ok(REMOVE, { id, ids: ['c-pager'] }, admin);
    }
    const pages = await allPages((after) => customerHistory('c-pager', { first: 4, after }));
    expect(pages.map((p) => p.edges.length)).toEqual([4, 2]);
    expect(pages.flatMap((p) => p.edges.map((e) => e.node))).toEqual(await recorded('customer_id = $1', ['c-pager']));
  });

  it("answers a router's batch of customers, with and without a segment, each with its own page", async () => {
    // Straight to the subgraph, which knows no customer names.
    const connection = CONNECTION.replace('customer { id name }', 'customer { id }');
    const query = `query ($r: [_Any!]!, $vip: ID) { _entities(representations: $r) { ... on Customer {
      id all: segmentHistory(first: 1) { ${connection} } inVip: segmentHistory(segmentId: $vip) { ${connection} } } } }`;
    const customers = ['c-1', 'c-2', 'c-5', 'c-404'];
    const result = await execute(subgraph.url, query, { r: customers.map((id) => ({ __typename: 'Customer', id })), vip }, reader);
    expect(result.errors).toBeUndefined();
    const nodes = (c: Connection) => c.edges.map((e) => ({ ...e.node, customer: { id: e.node.customer.id } }));
    for (const [i, id] of customers.entries()) {
      const entity = result.data!._entities[i];
      const all = (await recorded('customer_id = $1', [id])).map((n) => ({ ...n, customer: { id } }));
      expect(nodes(entity.all)).toEqual(all.slice(0, 1));
      expect(entity.all.pageInfo.hasNextPage).toBe(all.length > 1);
      expect(nodes(entity.inVip)).toEqual((await recorded('customer_id = $1 AND segment_id = $2', [id, vip])).map((n) => ({ ...n, customer: { id } })));
    }
  });

  it('reads only the changes at or after `since`', async () => {
    const removedAt = (await recorded(`segment_id = $1 AND change = 'LEFT'`, [vip]))[0]!.at;
    const since = await segmentChanges(vip, { since: removedAt });
    expect(since.edges.map((e) => e.node)).toEqual(await recorded('segment_id = $1 AND at >= $2', [vip, removedAt]));
    expect(since.edges.map((e) => [e.node.customer.id, e.node.change])).toContainEqual(['c-2', 'LEFT']);
    expect(since.edges.every((e) => e.node.at >= removedAt)).toBe(true);
    const all = await segmentChanges(vip);
    expect(all.edges.length).toBeGreaterThan(since.edges.length);
    expect((await segmentChanges(vip, { since: new Date(Date.now() + DAY_MS).toISOString() })).edges).toEqual([]);
  });

  it('refuses out-of-range page sizes, days and foreign cursors, naming the argument', async () => {
    expectBadInput(await run(SEGMENT_CHANGES, { id: vip, first: 0 }), 'first');
    expectBadInput(await run(SEGMENT_CHANGES, { id: vip, first: 101 }), 'first');
    expectBadInput(await run(CUSTOMER_HISTORY, { customer: 'c-1', first: 101 }), 'first');
    expectBadInput(await run(SEGMENT_CHANGES, { id: vip, after: 'bm9wZQ' }), 'after');
    expectBadInput(await run(CUSTOMER_HISTORY, { customer: 'c-1', after: Buffer.from('segment:3').toString('base64url') }), 'after');
    expectBadInput(await run(CUSTOMER_HISTORY, { customer: 'c-1', after: Buffer.from('membership-change:1:99999999999999999999').toString('base64url') }), 'after');
    expectBadInput(await run(SIZE_HISTORY, { id: vip, days: 0 }), 'days');
    expectBadInput(await run(SIZE_HISTORY, { id: vip, days: 367 }), 'days');
    const result = await run(SEGMENT_CHANGES, { id: vip, first: 0 });
    expect(JSON.stringify(result)).not.toMatch(/stack|\.ts:|postgres/i);
  });

  it('needs the segments:read scope', async () => {
    const fields = [
      [CUSTOMER_HISTORY, { customer: 'c-1' }],
      [SEGMENT_CHANGES, { id: vip }],
      [SIZE_HISTORY, { id: vip }],
    ] as const;
    const writer = await token(['segments:write']);
    for (const [query, variables] of fields) {
      expect((await run(query, variables, null)).errors).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'UNAUTHENTICATED' }) })]);
      expect((await run(query, variables, writer)).errors).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'FORBIDDEN' }) })]);
      expect((await run(query, variables, reader)).errors).toBeUndefined();
    }
  });

  it('gives the size at the end of each UTC day, from the current size and the changes after each day', async () => {
    // Changes days ago cannot be made through the pipeline, which stamps them with the time they are
    // made: they are written here as the pipeline writes them, with chosen times.
    const segment = await createSegment(stores, 'sized');
    const now = Date.now();
    const events: Array<[string, 'ENTERED' | 'LEFT', number]> = [
      ['a', 'ENTERED', now - 4 * DAY_MS],
      ['b', 'ENTERED', now - 4 * DAY_MS],
      ['c', 'ENTERED', now - 3 * DAY_MS],
      ['b', 'LEFT', now - 2 * DAY_MS],
      ['d', 'ENTERED', now - DAY_MS],
      ['e', 'ENTERED', now - DAY_MS],
      ['a', 'LEFT', now - 60_000],
    ];
    await stores.pool.query(
      `INSERT INTO segment_membership_events (segment_id, customer_id, change, at, cause, segment_version)
       SELECT $1, e.customer, e.change, e.at, 'manual', 1 FROM unnest($2::text[], $3::text[], $4::timestamptz[]) AS e (customer, change, at)`,
      [segment.id, events.map((e) => e[0]), events.map((e) => e[1]), events.map((e) => new Date(e[2]))],
    );
    // Published long ago, as their times say.
    await stores.pool.query('DELETE FROM membership_event_outbox WHERE event_id IN (SELECT id FROM segment_membership_events WHERE segment_id = $1)', [segment.id]);
    const sizeAt = (end: number) => events.reduce((n, [, change, at]) => (at < end ? n + (change === 'ENTERED' ? 1 : -1) : n), 0);
    await stores.pool.query(`UPDATE segments SET size = $2, created_at = now() - interval '10 days' WHERE id = $1`, [segment.id, sizeAt(Infinity)]);

    const todayBefore = Math.floor(Date.now() / DAY_MS) * DAY_MS;
    const days: Array<{ day: string; size: number }> = (await ok(SIZE_HISTORY, { id: String(segment.id), days: 7 })).segment.sizeHistory;
    const todayAfter = Math.floor(Date.now() / DAY_MS) * DAY_MS;
    expect([todayBefore, todayAfter]).toContain(Date.parse(days[days.length - 1]!.day));
    const today = Date.parse(days[days.length - 1]!.day);
    expect(days.map((d) => d.day)).toEqual(Array.from({ length: 7 }, (_, i) => new Date(today - (6 - i) * DAY_MS).toISOString()));
    expect(days.map((d) => d.size)).toEqual(days.map((d) => sizeAt(Date.parse(d.day) + DAY_MS)));
    expect(days[days.length - 1]!.size).toBe(sizeAt(Infinity));
    expect(new Set(days.map((d) => d.size)).size).toBeGreaterThan(2);

    // 30 days by default, but only the days since the segment was created.
    const byDefault: Array<{ day: string }> = (await ok(SIZE_HISTORY, { id: String(segment.id) })).segment.sizeHistory;
    expect(byDefault).toHaveLength(11);
    const fresh = await createSegment(stores, 'sized today');
    expect((await ok(SIZE_HISTORY, { id: String(fresh.id), days: 3 })).segment.sizeHistory).toEqual([{ day: new Date(today).toISOString(), size: 0 }]);
  });
});
