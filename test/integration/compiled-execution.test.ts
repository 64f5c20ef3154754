import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMembers, createSegment } from '../helpers/fixtures.js';
import { startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';
import { readerToken } from '../helpers/tokens.js';

// Operations run compiled by graphql-jit; graphql-js runs traced requests.
// Both must answer exactly as graphql-js alone does.
describe('compiled execution', () => {
  let stores: TestStores;
  let compiled: RunningSubgraph;
  let interpreted: RunningSubgraph;
  let segmentId: number;
  let reader: string;

  beforeAll(async () => {
    stores = await createTestStores();
    compiled = await startSubgraph(stores);
    interpreted = await startSubgraph(stores, { introspection: true, landingPage: false, compiledExecution: false });
    segmentId = (await createSegment(stores, 'Regulars', 'Order every week')).id;
    await addMembers(stores, segmentId, ['c-1', 'c-3']);
    reader = await readerToken();
  });
  afterAll(async () => {
    await compiled?.stop();
    await interpreted?.stop();
    await stores?.dispose();
  });

  const post = async (url: string, body: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${reader}`, ...headers },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as { data?: any; errors?: any[]; extensions?: Record<string, unknown> } };
  };
  const entities = `query ($r: [_Any!]!, $s: ID!) { _entities(representations: $r) {
    __typename ... on Customer { id segments { id name description size kind status } isInSegment(id: $s) no: isInSegment(id: "x")
      segmentMemberships { since segment { id } } segmentsFreshness { source status } }
    ... on Segment { id name } } }`;

  it.each([
    ['a page of entities', () => ({ query: entities, variables: { r: [1, 2, 3].map((i) => ({ __typename: 'Customer', id: `c-${i}` })), s: String(segmentId) } })],
    ['segment references', () => ({ query: entities, variables: { r: [{ __typename: 'Segment', id: String(segmentId) }, { __typename: 'Segment', id: '999' }], s: '1' } })],
    ['queries with fragments, aliases and skip', () => ({
      query: `query ($id: ID!, $no: Boolean!) { a: segment(id: $id) { ...F } b: segment(id: "0") { ...F } segments(first: 1) { totalCount edges { node { ...F } } } }
              fragment F on Segment { id name rule { __typename } history(first: 1) @skip(if: $no) { action } }`,
      variables: { id: String(segmentId), no: false },
    })],
    ['a resolver error', () => ({ query: '{ segments(first: 0) { totalCount } }' })],
    ['a wrongly typed variable', () => ({ query: 'query ($f: Int) { segments(first: $f) { totalCount } }', variables: { f: 'ten' } })],
    ['an unknown field', () => ({ query: '{ segmnts { totalCount } }' })],
  ])('answers %s as graphql-js does', async (_name, request) => {
    const body = request();
    const [fast, reference] = await Promise.all([post(compiled.url, body), post(interpreted.url, body)]);
    expect(fast).toEqual(reference);
    // The first three are answers, the last three refusals: the comparison covers both.
    expect(reference.body.errors === undefined).toBe(!/error|variable|unknown/.test(_name));
  });

  it('does not suggest field names in errors', async () => {
    const { body } = await post(compiled.url, { query: '{ segmnts { totalCount } }' });
    expect(body.errors![0].message).toBe('Cannot query field "segmnts" on type "Query".');
  });

  it('returns an inline trace (ftv1) to a router that asks for one, with the same data', async () => {
    const body = { query: entities, variables: { r: [{ __typename: 'Customer', id: 'c-1' }], s: String(segmentId) } };
    const traced = await post(compiled.url, body, { 'apollo-federation-include-trace': 'ftv1' });
    const plain = await post(compiled.url, body);
    expect(traced.body.data).toEqual(plain.body.data);
    expect(traced.body.extensions?.ftv1).toEqual(expect.stringMatching(/^[A-Za-z0-9+/=]{20,}$/));
    expect(plain.body.extensions?.ftv1).toBeUndefined();
  });
});
