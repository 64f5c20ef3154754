import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deeplyNestedRule } from '../helpers/fixtures.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';
import { adminToken } from '../helpers/tokens.js';

// Inputs built to break a server: the answer is a caller error, never an
// internal error or a stack trace, and nothing is written.
describe('hostile input', () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let admin: string;

  beforeAll(async () => {
    stores = await createTestStores();
    subgraph = await startSubgraph(stores);
    admin = await adminToken();
  });
  afterAll(async () => {
    await subgraph?.stop();
    await stores?.dispose();
  });

  it('a rule nested 5,000 levels deep in variables', async () => {
    // Built as text: JSON.stringify itself cannot nest that deep.
    const rule = `${'{"not":'.repeat(5000)}{"lastOrder":{"olderThanDays":1}}${'}'.repeat(5000)}`;
    const query = `mutation ($r: SegmentRuleInput!) { createSegment(input: { name: "x", rule: $r }) { id } }`;
    const response = await fetch(subgraph.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
      body: `{"query":${JSON.stringify(query)},"variables":{"r":${rule}}}`,
    });
    const text = await response.text();
    expect(response.status).toBe(400);
    expect(text).not.toMatch(/INTERNAL_SERVER_ERROR|stacktrace|\.ts:\d+|\.js:\d+/);
    expect(JSON.parse(text).errors[0].extensions.code).toBe('BAD_USER_INPUT');
    expect((await stores.pool.query(`SELECT count(*)::int AS n FROM segments`)).rows[0].n).toBe(0);
  });

  it.each([
    ['a rule nested 3,000 levels deep in the query text', `mutation { createSegment(input: { name: "x", rule: ${JSON.stringify(deeplyNestedRule(3000)).replace(/"(\w+)":/g, '$1:')} }) { id } }`, {}],
    ['a rule nested 30,000 levels deep in the query text', `mutation { createSegment(input: { name: "x", rule: ${'{ not: '.repeat(30_000)}{ inSegment: "1" }${' }'.repeat(30_000)} }) { id } }`, {}],
    ['an Int beyond 32 bits', `mutation { createSegment(input: { name: "x", rule: { orderCount: { op: GT, value: 99999999999 } } }) { id } }`, {}],
    ['a DateTime that is not one', `mutation ($since: DateTime) { createSegment(input: { name: "x", rule: { orderCount: { op: GT, value: 1, filter: { since: $since } } } }) { id } }`, { since: 'last tuesday' }],
    ['SQL in every string', `mutation { createSegment(input: { name: "x'; DROP TABLE orders; --", rule: { attribute: { field: "attributes.x", op: EQ, value: "'; DROP TABLE orders; --" } } }) { id } }`, {}],
    ['a segment id beyond the integer range', `mutation { archiveSegment(id: "99999999999999999999") { id } }`, {}],
  ])('%s', async (name, query, variables) => {
    const result = await execute(subgraph.url, query, variables, admin);
    const text = JSON.stringify(result);
    expect(text).not.toMatch(/INTERNAL_SERVER_ERROR|stacktrace|\.ts:\d+|\.js:\d+/);
    if (name.startsWith('SQL')) {
      // Accepted as plain data: the statement never changes.
      expect(result.errors).toBeUndefined();
      expect((await stores.pool.query(`SELECT to_regclass('orders') IS NOT NULL AS present`)).rows[0].present).toBe(true);
    } else if (name.includes('levels deep')) {
      // Refused before graphql-js' parser recurses into it.
      expect(result.errors?.[0]?.extensions).toEqual({ code: 'COST_LIMIT_EXCEEDED', limit: 'maxNesting' });
      expect((await stores.pool.query(`SELECT count(*)::int AS n FROM segments WHERE name = 'x'`)).rows[0].n).toBe(0);
    } else {
      expect(result.errors?.[0]?.extensions?.code).toMatch(/^(BAD_USER_INPUT|GRAPHQL_PARSE_FAILED|GRAPHQL_VALIDATION_FAILED)$/);
      expect((await stores.pool.query(`SELECT count(*)::int AS n FROM segments WHERE name = 'x'`)).rows[0].n).toBe(0);
    }
  });
});
