import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deeplyNestedRule } from '../helpers/fixtures.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { startSupergraph, type RunningSupergraph } from '../helpers/supergraph.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';
import { adminToken } from '../helpers/tokens.js';

// Issue 16, "Codes survive the supergraph": a refusal by the subgraph reaches
// the client through @apollo/gateway with its extensions.code (and field).
describe('refusals through the supergraph', () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let supergraph: RunningSupergraph;
  let admin: string;

  beforeAll(async () => {
    stores = await createTestStores();
    subgraph = await startSubgraph(stores);
    supergraph = await startSupergraph(subgraph.url);
    admin = await adminToken();
  });
  afterAll(async () => {
    await supergraph?.stop();
    await subgraph?.stop();
    await stores?.dispose();
  });

  it.each([
    ['a rule nested 200 levels deep', 'mutation ($r: SegmentRuleInput!) { createSegment(input: { name: "deep", rule: $r }) { id } }', () => ({ r: deeplyNestedRule(200) }), 'BAD_USER_INPUT'],
    ['a name with NUL', 'mutation ($n: String!) { createSegment(input: { name: $n }) { id } }', () => ({ n: 'a\u0000' }), 'BAD_USER_INPUT'],
    ['an empty name', 'mutation { createSegment(input: { name: "  " }) { id } }', () => ({}), 'BAD_USER_INPUT'],
    ['a history of 100 segments', '{ segments(first: 100) { edges { node { sizeHistory(days: 366) { size } } } } }', () => ({}), 'COST_LIMIT_EXCEEDED'],
  ])('%s: the code reaches the client', async (_name, query, variables, code) => {
    const result = await execute(supergraph.url, query, variables(), admin);
    expect(result.errors?.map((e) => e.extensions?.code)).toContain(code);
    expect(JSON.stringify(result)).not.toMatch(/400: Bad Request|stacktrace/);
    expect((await stores.pool.query(`SELECT count(*)::int AS n FROM segments`)).rows[0].n).toBe(0);
  });
});
