import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_OPERATION_LIMITS } from '../../src/platform/config.js';
import { addMembers, createSegment } from '../helpers/fixtures.js';
import { startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';

interface Answer {
  status: number;
  body: { data?: any; errors?: Array<{ message: string; extensions: Record<string, unknown> }> };
}

// Limits are checked before anything executes: a refused operation gets HTTP
// 400 and a code, and costs no store read.
describe('operation limits', () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let tight: RunningSubgraph;
  let segmentId: number;

  beforeAll(async () => {
    stores = await createTestStores();
    subgraph = await startSubgraph(stores);
    tight = await startSubgraph(stores, {
      introspection: true,
      landingPage: false,
      limits: { ...DEFAULT_OPERATION_LIMITS, maxRepresentations: 10, maxMembershipCost: 20, maxAliases: 2, maxDepth: 4 },
    });
    segmentId = (await createSegment(stores, 'Even')).id;
    await addMembers(stores, segmentId, Array.from({ length: 1000 }, (_, i) => `c-${i}`).filter((_, i) => i % 2 === 0));
  });
  afterAll(async () => {
    await tight?.stop();
    await subgraph?.stop();
    await stores?.dispose();
  });

  const send = async (url: string, query: string, variables: Record<string, unknown> = {}): Promise<Answer> => {
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
    return { status: response.status, body: (await response.json()) as Answer['body'] };
  };
  const representations = (n: number) => Array.from({ length: n }, (_, i) => ({ __typename: 'Customer', id: `c-${i}` }));
  const entities = (customerFields: string) =>
    `query ($r: [_Any!]!, $s: ID!) { _entities(representations: $r) { ... on Customer { id ${customerFields} } } }`;
  const refused = (answer: Answer, code: string, limit?: string) => {
    expect(answer.status).toBe(400);
    expect(answer.body.data).toBeUndefined();
    expect(answer.body.errors).toHaveLength(1);
    expect(answer.body.errors![0]!.extensions).toEqual(limit ? { code, limit } : expect.objectContaining({ code }));
  };

  it('lets a router ask a page of 1,000 customers for every membership field', async () => {
    const answer = await send(
      subgraph.url,
      entities('segments { id name } isInSegment(id: $s) segmentMemberships { since } segmentsFreshness { source }'),
      { r: representations(1000), s: String(segmentId) },
    );
    expect(answer.status).toBe(200);
    expect(answer.body.errors).toBeUndefined();
    expect(answer.body.data._entities).toHaveLength(1000);
    expect(answer.body.data._entities.filter((e: { isInSegment: boolean }) => e.isInSegment)).toHaveLength(500);
  });

  it('refuses more representations than maxRepresentations', async () => {
    const over = DEFAULT_OPERATION_LIMITS.maxRepresentations + 1;
    refused(await send(subgraph.url, entities('isInSegment(id: $s)'), { r: representations(over), s: '1' }), 'COST_LIMIT_EXCEEDED', 'maxRepresentations');
  });

  it('refuses representations times Customer fields over maxMembershipCost, fragments and aliases counted', async () => {
    const fields = Array.from({ length: 7 }, (_, i) => `a${i}: isInSegment(id: $s)`);
    // 1,500 x 7 = 10,500: over the default 10,000, though each count alone is within its limit.
    const query = `query ($r: [_Any!]!, $s: ID!) { _entities(representations: $r) { ...F ... on Customer { ${fields.slice(4).join(' ')} } } }
                   fragment F on Customer { id ${fields.slice(0, 4).join(' ')} }`;
    refused(await send(subgraph.url, query, { r: representations(1500), s: '1' }), 'COST_LIMIT_EXCEEDED', 'maxMembershipCost');
    expect((await send(subgraph.url, query, { r: representations(1400), s: '1' })).status).toBe(200);
  });

  it.each([
    // So many aliases are first a document over maxTokens.
    ['3,000 aliased segment(id:) fields', `{ ${Array.from({ length: 3000 }, (_, i) => `s${i}: segment(id: "${i}") { id }`).join(' ')} }`, 'GRAPHQL_PARSE_FAILED'],
    ['31 aliased segment(id:) fields', `{ ${Array.from({ length: 31 }, (_, i) => `s${i}: segment(id: "${i}") { id }`).join(' ')} }`, 'GRAPHQL_VALIDATION_FAILED'],
    ['a query 16 levels deep', `{ segment(id: "1") { rule { ${'not { '.repeat(13)}inSegment${' }'.repeat(13)} } } }`, 'GRAPHQL_VALIDATION_FAILED'],
    ['a document over maxTokens', `{ __typename ${'__typename '.repeat(DEFAULT_OPERATION_LIMITS.maxTokens)} }`, 'GRAPHQL_PARSE_FAILED'],
  ])('refuses %s with the default limits', async (_name, query, code) => {
    refused(await send(subgraph.url, query), code);
  });

  it('applies configured limits', async () => {
    refused(await send(tight.url, entities('isInSegment(id: $s)'), { r: representations(11), s: '1' }), 'COST_LIMIT_EXCEEDED', 'maxRepresentations');
    refused(await send(tight.url, entities('isInSegment(id: $s) segments { id } segmentMemberships { since }'), { r: representations(10), s: '1' }), 'COST_LIMIT_EXCEEDED', 'maxMembershipCost');
    refused(await send(tight.url, `{ a: segment(id: "1") { id } b: segment(id: "2") { id } c: segment(id: "3") { id } }`), 'GRAPHQL_VALIDATION_FAILED');
    refused(await send(tight.url, `{ segment(id: "1") { rule { all { any { orderCount { filter { storeIds } } } } } } }`), 'GRAPHQL_VALIDATION_FAILED');
    expect((await send(tight.url, entities('isInSegment(id: $s) segments { id }'), { r: representations(10), s: String(segmentId) })).status).toBe(200);
  });

  it('reads the segment(id:) fields of one request in one Postgres query', async () => {
    // Counts the real repository's reads, as the catalog makes them.
    const calls: number[][] = [];
    const findByIds = stores.segments.findByIds.bind(stores.segments);
    stores.segments.findByIds = async (ids) => (calls.push([...ids]), findByIds(ids));
    try {
      const ids = Array.from({ length: 20 }, (_, i) => segmentId + 1 + i);
      const answer = await send(subgraph.url, `{ ${ids.map((id, i) => `s${i}: segment(id: "${id}") { id name }`).join(' ')} }`);
      expect(answer.body.errors).toBeUndefined();
      expect(Object.values(answer.body.data)).toEqual(ids.map(() => null));
      expect(calls).toEqual([ids]);
    } finally {
      stores.segments.findByIds = findByIds;
    }
  });
});
