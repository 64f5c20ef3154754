import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveSegment, createSegment } from '../helpers/fixtures.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { readerToken } from '../helpers/tokens.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';

const PAGE = /* GraphQL */ `
  query ($first: Int, $after: String, $status: SegmentStatus) {
    segments(first: $first, after: $after, status: $status) {
      totalCount
      edges { cursor node { id name status } }
      pageInfo { hasNextPage endCursor }
    }
  }
`;

describe('Query.segment and Query.segments', () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let ids: string[];
  let reader: string;

  beforeAll(async () => {
    stores = await createTestStores();
    subgraph = await startSubgraph(stores);
    reader = await readerToken();
    ids = [];
    for (const name of ['A', 'B', 'C', 'D', 'E']) ids.push(String((await createSegment(stores, name)).id));
    await archiveSegment(stores, Number(ids[1]));
  });
  afterAll(async () => {
    await subgraph?.stop();
    await stores?.dispose();
  });

  it('returns one segment by id with every field, archived or not', async () => {
    const result = await execute(
      subgraph.url,
      `query ($id: ID!) { segment(id: $id) { id name description status size createdAt updatedAt lastComputedAt } }`,
      { id: ids[1] },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data!.segment).toMatchObject({ id: ids[1], name: 'B', description: null, status: 'ARCHIVED', size: 0, lastComputedAt: null });
    expect(result.data!.segment.createdAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it.each(['999999', 'abc', '-1'])('returns null for segment(id: %j)', async (id) => {
    const result = await execute(subgraph.url, `query ($id: ID!) { segment(id: $id) { id } }`, { id });
    expect(result).toEqual({ data: { segment: null } });
  });

  it('pages through every segment in id order with stable cursors', async () => {
    const first = await execute(subgraph.url, PAGE, { first: 2 }, reader);
    expect(first.errors).toBeUndefined();
    expect(first.data!.segments.totalCount).toBe(5);
    expect(first.data!.segments.edges.map((e: any) => e.node.name)).toEqual(['A', 'B']);
    expect(first.data!.segments.pageInfo.hasNextPage).toBe(true);

    const second = await execute(subgraph.url, PAGE, { first: 2, after: first.data!.segments.pageInfo.endCursor }, reader);
    expect(second.data!.segments.edges.map((e: any) => e.node.name)).toEqual(['C', 'D']);

    const third = await execute(subgraph.url, PAGE, { first: 2, after: second.data!.segments.edges[1].cursor }, reader);
    expect(third.data!.segments.edges.map((e: any) => e.node.name)).toEqual(['E']);
    expect(third.data!.segments.pageInfo).toEqual({ hasNextPage: false, endCursor: third.data!.segments.edges[0].cursor });
  });

  it('filters by status, counting only matching segments', async () => {
    const active = await execute(subgraph.url, PAGE, { status: 'ACTIVE' }, reader);
    expect(active.data!.segments.totalCount).toBe(4);
    expect(active.data!.segments.edges.map((e: any) => e.node.name)).toEqual(['A', 'C', 'D', 'E']);
    const archived = await execute(subgraph.url, PAGE, { status: 'ARCHIVED' }, reader);
    expect(archived.data!.segments.edges.map((e: any) => e.node.name)).toEqual(['B']);
  });

  it('returns an empty page with a null endCursor after the last segment', async () => {
    const last = await execute(subgraph.url, PAGE, {}, reader);
    const result = await execute(subgraph.url, PAGE, { after: last.data!.segments.pageInfo.endCursor }, reader);
    expect(result.data!.segments).toEqual({ totalCount: 5, edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
  });

  it.each([
    [{ first: 0 }, 'first'],
    [{ first: 101 }, 'first'],
    [{ first: -5 }, 'first'],
    [{ after: 'bm90LWEtY3Vyc29y' }, 'after'],
    [{ after: '%%%' }, 'after'],
  ])('rejects %j with BAD_USER_INPUT naming %s', async (variables, field) => {
    const result = await execute(subgraph.url, PAGE, variables, reader);
    expect(result.data).toBeNull();
    expect(result.errors).toHaveLength(1);
    expect(result.errors![0]!.extensions).toEqual({ code: 'BAD_USER_INPUT', field });
    expect(result.errors![0]!.path).toEqual(['segments']);
    expect(result.errors![0]!.message).toContain(field);
  });

  it('reports a wrongly typed variable as BAD_USER_INPUT without internals', async () => {
    const result = await execute(subgraph.url, PAGE, { status: 'DELETED' }, reader);
    expect(result.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
    expect(JSON.stringify(result)).not.toMatch(/stacktrace|at .*\.ts:\d+/);
  });
});
