import { composeServices } from '@apollo/composition';
import { Kind, print, visit, type StringValueNode, type ListValueNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { FIELD_SCOPES, PUBLIC } from '../../src/auth/field-scopes.js';
import { loadTypeDefs } from '../../src/graphql/schema.js';
import { customersTypeDefs } from '../helpers/supergraph.js';

describe('FEDERATION_AUTH_DIRECTIVES', () => {
  it('is off by default: the SDL carries no @requiresScopes', () => {
    expect(print(loadTypeDefs())).not.toContain('requiresScopes');
  });

  it('marks every scoped field with @requiresScopes and imports it', () => {
    const typeDefs = loadTypeDefs({ authDirectives: true });
    expect(print(typeDefs)).toMatch(/import: \[.*"@requiresScopes"\]/);
    const marks: string[] = [];
    let typeName = '';
    visit(typeDefs, {
      ObjectTypeDefinition: (node) => void (typeName = node.name.value),
      ObjectTypeExtension: (node) => void (typeName = node.name.value),
      FieldDefinition(node) {
        for (const directive of node.directives ?? []) {
          if (directive.name.value !== 'requiresScopes') continue;
          const scopes = directive.arguments![0]!.value as ListValueNode;
          const scope = ((scopes.values[0] as ListValueNode).values[0] as StringValueNode).value;
          expect(scopes.kind).toBe(Kind.LIST);
          marks.push(`${typeName}.${node.name.value} ${scope}`);
        }
      },
    });
    const expected = Object.entries(FIELD_SCOPES).flatMap(([type, fields]) => Object.entries(fields).filter(([, scope]) => scope !== PUBLIC).map(([field, scope]) => `${type}.${field} ${scope}`));
    expect(marks.sort()).toEqual(expected.sort());
  });

  it('composes into a supergraph that carries the marks for a router that enforces them', () => {
    const composition = composeServices([
      { name: 'customers', typeDefs: customersTypeDefs, url: 'http://customers.test' },
      { name: 'segments', typeDefs: loadTypeDefs({ authDirectives: true }), url: 'http://segments.test' },
    ]);
    expect(composition.errors).toBeUndefined();
    expect(composition.supergraphSdl).toContain('@requiresScopes(scopes: [["segments:write"]])');
  });
});
