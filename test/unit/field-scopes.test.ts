import { buildSubgraphSchema } from '@apollo/subgraph';
import { isObjectType, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { FIELD_SCOPES, GUARDED_TYPES } from '../../src/auth/field-scopes.js';
import { createSubgraphSchema, guardFields, loadTypeDefs, MissingFieldDecisionError } from '../../src/graphql/schema.js';

// Authorization is deny by default (issue 9): every field of the roots and the
// entities carries a decision, a scope or PUBLIC, in FIELD_SCOPES.
describe('FIELD_SCOPES', () => {
  const schema = createSubgraphSchema();

  it.each(GUARDED_TYPES)('decides every field of %s', (typeName) => {
    const type = schema.getType(typeName);
    expect(isObjectType(type)).toBe(true);
    if (!isObjectType(type)) return;
    const undecided = Object.keys(type.getFields()).filter((field) => FIELD_SCOPES[typeName][field] === undefined);
    expect(undecided).toEqual([]);
  });

  it.each(GUARDED_TYPES)('names only fields %s has', (typeName) => {
    const type = schema.getType(typeName);
    if (!isObjectType(type)) throw new Error(`${typeName} is not an object type`);
    const stale = Object.keys(FIELD_SCOPES[typeName]).filter((field) => !(field in type.getFields()));
    expect(stale).toEqual([]);
  });

  it('refuses to build a schema with a field nobody decided on', () => {
    const typeDefs = [loadTypeDefs(), parse('extend type Mutation { dropEverything: Boolean } extend type Segment { secret: String }')];
    const unguarded = buildSubgraphSchema(typeDefs.map((document) => ({ typeDefs: document })));
    expect(() => guardFields(unguarded)).toThrow(MissingFieldDecisionError);
    expect(() => guardFields(unguarded)).toThrow(/Mutation\.dropEverything, Segment\.secret/);
  });
});
