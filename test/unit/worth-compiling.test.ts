import { parse, type OperationDefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { worthCompiling } from '../../src/graphql/compiled-execution.js';
import { createSubgraphSchema } from '../../src/graphql/schema.js';

// graphql-jit spent 5 s of CPU compiling one preview document, before any
// token was checked: such operations run on graphql-js (issue 9, item 6).
describe('worthCompiling', () => {
  const schema = createSubgraphSchema({ authDirectives: false });
  const operation = (query: string) => parse(query).definitions[0] as OperationDefinitionNode;

  it.each([
    ['_entities', `query ($r: [_Any!]!, $s: ID!) { _entities(representations: $r) { ... on Customer { isInSegment(id: $s) } } }`, true],
    ['segment(id:)', `query ($id: ID!) { segment(id: $id) { id } }`, true],
    ['a preview with an inline rule', `{ previewSegment(rule: { not: { lastOrder: { olderThanDays: 60 } } }) { size } }`, true],
    ['a preview with a rule variable', `query ($rule: SegmentRuleInput!) { previewSegment(rule: $rule) { size } }`, false],
    ['a change preview with a rule variable', `query ($id: ID!, $rule: SegmentRuleInput!) { previewSegmentChange(id: $id, rule: $rule) { newSize } }`, false],
    ['createSegment with an input variable', `mutation ($input: CreateSegmentInput!) { createSegment(input: $input) { id } }`, false],
    ['a list of input objects', `query ($rules: [SegmentRuleInput!]!) { previewSegment(rule: { any: $rules }) { size } }`, false],
  ])('%s: %s', (_name, query, expected) => {
    expect(worthCompiling(schema, operation(query))).toBe(expected);
  });
});
