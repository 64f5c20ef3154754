import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMembers, createSegment } from '../helpers/fixtures.js';
import { startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';
import { adminToken } from '../helpers/tokens.js';

// Issue 16, "Every client mistake is a client error": the same request gets the
// same status, code and field path with compiled execution (graphql-jit, the
// default) and with graphql-js alone, never an internal error, and changes nothing.
describe('client mistakes, on both execution paths', () => {
  let stores: TestStores;
  let compiled: RunningSubgraph;
  let interpreted: RunningSubgraph;
  let admin: string;
  let segmentId: number;

  beforeAll(async () => {
    stores = await createTestStores();
    compiled = await startSubgraph(stores);
    interpreted = await startSubgraph(stores, { introspection: true, landingPage: false, compiledExecution: false });
    admin = await adminToken();
    segmentId = (await createSegment(stores, 'VIP')).id;
    await addMembers(stores, segmentId, ['cust-1']);
  });
  afterAll(async () => {
    await compiled?.stop();
    await interpreted?.stop();
    await stores?.dispose();
  });

  const post = async (url: string, body: string) => {
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` }, body });
    const text = await response.text();
    expect(response.headers.get('content-type')).toMatch(/^application\/(graphql-response\+)?json/);
    return { status: response.status, text, body: JSON.parse(text) as { data?: unknown; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> } };
  };
  const state = async () =>
    (await stores.pool.query<{ n: number; m: number }>(`SELECT (SELECT count(*)::int FROM segments) AS n, (SELECT count(*)::int FROM segment_memberships) AS m`)).rows[0];

  const entities = '_entities(representations: $r) { ... on Customer { isInSegment(id: "1") } }';
  const withReps = (r: unknown) => JSON.stringify({ query: `query ($r: [_Any!]!) { ${entities} }`, variables: { r } });
  const deepSelection = `{ ${'segment(id: "1") { rule { '.repeat(1)}${'a { '.repeat(1600)}b${' }'.repeat(1600)} } } }`;
  const deepRule = `mutation { createSegment(input: { name: "x", rule: ${'{ not: '.repeat(3000)}{ inSegment: "1" }${' }'.repeat(3000)} }) { id } }`;

  it.each([
    ['two operations and no operationName', JSON.stringify({ query: 'query A { __typename } query B { __typename }' }), 400, 'OPERATION_RESOLUTION_FAILURE', undefined],
    ['an operationName not in the document', JSON.stringify({ query: 'query A { __typename }', operationName: 'B' }), 400, 'OPERATION_RESOLUTION_FAILURE', undefined],
    ['an operationName among several that is not there', JSON.stringify({ query: 'query A { __typename } query B { __typename }', operationName: 'C' }), 400, 'OPERATION_RESOLUTION_FAILURE', undefined],
    ['NUL in a segment name (variable)', JSON.stringify({ query: 'mutation ($i: CreateSegmentInput!) { createSegment(input: $i) { id } }', variables: { i: { name: 'a\u0000b' } } }), 400, 'BAD_USER_INPUT', 'variables.i.name'],
    ['NUL in a description (literal)', JSON.stringify({ query: 'mutation { createSegment(input: { name: "ok", description: "a\\u0000b" }) { id } }' }), 400, 'BAD_USER_INPUT', 'input.description'],
    ['NUL in an attribute value', JSON.stringify({ query: 'mutation { createSegment(input: { name: "x", rule: { attribute: { field: "attributes.tier", op: EQ, value: "gold\\u0000" } } }) { id } }' }), 400, 'BAD_USER_INPUT', 'input.rule.attribute.value'],
    ['NUL in storeIds', JSON.stringify({ query: 'mutation ($s: [ID!]) { createSegment(input: { name: "x", rule: { orderCount: { op: GT, value: 0, filter: { storeIds: $s } } } }) { id } }', variables: { s: ['store-1', 'st\u0000'] } }), 400, 'BAD_USER_INPUT', 'variables.s.1'],
    ['NUL in an idempotencyKey', JSON.stringify({ query: 'mutation { createSegment(input: { name: "x", idempotencyKey: "k\\u0000" }) { id } }' }), 400, 'BAD_USER_INPUT', 'input.idempotencyKey'],
    ['NUL in explainMembership', JSON.stringify({ query: 'query { explainMembership(segmentId: "1", customerId: "c\\u0000") { member } }' }), 400, 'BAD_USER_INPUT', 'customerId'],
    ['NUL in addSegmentMembers', JSON.stringify({ query: 'mutation ($c: [ID!]!) { addSegmentMembers(id: "1", customerIds: $c) { id } }', variables: { c: ['c-1', 'c\u0000'] } }), 400, 'BAD_USER_INPUT', 'variables.c.1'],
    ['NUL in eraseCustomer', JSON.stringify({ query: 'mutation { eraseCustomer(customerId: "\\u0000") { customerHash } }' }), 400, 'BAD_USER_INPUT', 'customerId'],
    // In the document, graphql-js' lexer refuses it (GRAPHQL_PARSE_FAILED); in variables, JSON allows it.
    ['an unpaired surrogate in a name', `{"query":"mutation ($i: CreateSegmentInput!) { createSegment(input: $i) { id } }","variables":{"i":{"name":"a\\ud800b"}}}`, 400, 'BAD_USER_INPUT', 'variables.i.name'],
    ['NUL in a representation id', withReps([{ __typename: 'Customer', id: 'cust-1' }, { __typename: 'Customer', id: 'c\u0000' }]), 400, 'BAD_USER_INPUT', 'variables.r.1.id'],
    ['NUL in a representation written in the document', JSON.stringify({ query: '{ _entities(representations: [{ __typename: "Customer", id: "c\\u0000" }]) { __typename } }' }), 400, 'BAD_USER_INPUT', 'representations.0.id'],
    ['a representation of an unknown __typename', withReps([{ __typename: 'Order', id: '1' }]), 400, 'BAD_USER_INPUT', 'representations.0.__typename'],
    ['a representation without __typename', withReps([{ id: '1' }]), 400, 'BAD_USER_INPUT', 'representations.0.__typename'],
    ['a representation without id', withReps([{ __typename: 'Customer', id: 'cust-1' }, { __typename: 'Customer' }]), 400, 'BAD_USER_INPUT', 'representations.1.id'],
    ['a representation whose id is an object', withReps([{ __typename: 'Customer', id: { not: 'an id' } }]), 400, 'BAD_USER_INPUT', 'representations.0.id'],
    ['a representation whose id is a number', withReps([{ __typename: 'Segment', id: 1 }]), 400, 'BAD_USER_INPUT', 'representations.0.id'],
    ['a representation that is not an object', withReps(['Customer:cust-1']), 400, 'BAD_USER_INPUT', 'representations.0'],
    ['a document nested 1,600 levels deep', JSON.stringify({ query: deepSelection }), 400, 'COST_LIMIT_EXCEEDED', undefined],
    ['a rule nested 3,000 levels deep in the document', JSON.stringify({ query: deepRule }), 400, 'COST_LIMIT_EXCEEDED', undefined],
    ['1,000 aliases of __typename', JSON.stringify({ query: `{ ${Array.from({ length: 1000 }, (_, i) => `t${i}: __typename`).join(' ')} }` }), 400, 'GRAPHQL_VALIDATION_FAILED', undefined],
  ])('%s', async (_name, body, status, code, field) => {
    const before = await state();
    const [fast, reference] = [await post(compiled.url, body), await post(interpreted.url, body)];
    for (const answer of [fast, reference]) {
      expect(answer.status).toBe(status);
      expect(answer.body.errors?.[0]?.extensions?.code).toBe(code);
      if (field) expect(answer.body.errors?.[0]?.extensions?.field).toBe(field);
      expect(answer.text).not.toMatch(/INTERNAL_SERVER_ERROR|stacktrace|Maximum call stack|variableDefinitions|invalid byte sequence|\.ts:\d+|\.js:\d+/);
    }
    expect(fast.body).toEqual(reference.body);
    expect(await state()).toEqual(before);
  });

  it('counts representations over every _entities field of an operation, aliases included', async () => {
    const reps = Array.from({ length: 1000 }, (_, i) => ({ __typename: 'Customer', id: `c-${i}` }));
    const aliased = (n: number) =>
      JSON.stringify({ query: `query ($r: [_Any!]!) { ${Array.from({ length: n }, (_, i) => `e${i}: _entities(representations: $r) { __typename }`).join(' ')} }`, variables: { r: reps } });
    for (const url of [compiled.url, interpreted.url]) {
      expect((await post(url, aliased(2))).status).toBe(200); // 2,000: the limit
      const refused = await post(url, aliased(3));
      expect(refused.status).toBe(400);
      expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'COST_LIMIT_EXCEEDED', limit: 'maxRepresentations' });
      expect(refused.body.errors?.[0]?.message).toContain('3000 representations');
    }
  });

  it('counts the membership cost over every _entities field too', async () => {
    const reps = Array.from({ length: 1000 }, (_, i) => ({ __typename: 'Customer', id: `c-${i}` }));
    // Six Customer fields of 1,000 representations cost 6,000: one such field passes, two aliases of it are 12,000 > 10,000.
    const fields = '... on Customer { segments { id } a: isInSegment(id: "1") b: isInSegment(id: "2") c: isInSegment(id: "3") segmentMemberships { since } segmentsFreshness { status } }';
    const query = (n: number) =>
      JSON.stringify({ query: `query ($r: [_Any!]!) { ${Array.from({ length: n }, (_, i) => `e${i}: _entities(representations: $r) { ${fields} }`).join(' ')} }`, variables: { r: reps } });
    for (const url of [compiled.url, interpreted.url]) {
      expect((await post(url, query(1))).status).toBe(200);
      const refused = await post(url, query(2));
      expect(refused.status).toBe(400);
      expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'COST_LIMIT_EXCEEDED', limit: 'maxMembershipCost' });
    }
  });
});
