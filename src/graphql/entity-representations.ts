import type { ApolloServerPlugin } from '@apollo/server';
import { isUnionType, type GraphQLSchema } from 'graphql';
import { MalformedRepresentationError } from '../platform/errors.js';
import { entityCalls } from './entity-calls.js';

// Ids are the other subgraph's keys, of no length we decide; this only bounds what one lookup sends to Redis.
const MAX_ID_LENGTH = 1024;

/**
 * Refuses, before anything executes, an operation whose `_entities`
 * representations this subgraph cannot resolve, with the path of the first
 * bad one: @apollo/subgraph would answer an unknown `__typename` with an
 * uncoded error, and a missing or non-string `id` would reach the stores.
 * Representations come from the router, so a bad one is a bug or a probe.
 */
export function entityRepresentations(): ApolloServerPlugin {
  const entityTypes = new WeakMap<GraphQLSchema, ReadonlySet<string>>();
  const typesOf = (schema: GraphQLSchema) => {
    let types = entityTypes.get(schema);
    if (!types) {
      const union = schema.getType('_Entity');
      types = new Set(isUnionType(union) ? union.getTypes().map((t) => t.name) : []);
      entityTypes.set(schema, types);
    }
    return types;
  };
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, document, request, schema }) {
          if (!operation) return;
          const types = typesOf(schema);
          for (const { representations } of entityCalls(operation, document.definitions, request.variables ?? {})) {
            representations.forEach((representation, i) => {
              const problem = representationProblem(representation, types);
              if (problem) throw new MalformedRepresentationError(`representations.${i}${problem.at}`, problem.says);
            });
          }
        },
      };
    },
  };
}

function representationProblem(representation: unknown, types: ReadonlySet<string>): { at: string; says: string } | null {
  if (representation === null || typeof representation !== 'object' || Array.isArray(representation)) {
    return { at: '', says: 'must be an object with __typename and id' };
  }
  const { __typename: typename, id } = representation as Record<string, unknown>;
  if (typeof typename !== 'string' || !types.has(typename)) {
    return { at: '.__typename', says: `must name an entity of this subgraph: ${[...types].join(' or ')}` };
  }
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID_LENGTH) {
    return { at: '.id', says: `must be a string of 1 to ${MAX_ID_LENGTH} characters` };
  }
  return null;
}
