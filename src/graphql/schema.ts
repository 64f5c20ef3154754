import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { buildSubgraphSchema } from '@apollo/subgraph';
// Not re-exported from the package root; Apollo's own subgraph templates import it from here.
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';
import {
  defaultFieldResolver,
  Kind,
  parse,
  visit,
  type DirectiveNode,
  type DocumentNode,
  type GraphQLFieldResolver,
  type GraphQLSchema,
} from 'graphql';
import { FIELD_SCOPES } from '../auth/field-scopes.js';
import type { Context } from '../context.js';
import type { Resolvers } from '../generated/graphql.js';
import { schemaDir } from '../paths.js';
import { Customer, SegmentMembership } from './customer.resolvers.js';
import { DateTime } from './date-time.scalar.js';
import { OrderFilter } from './rule.resolvers.js';
import * as admin from './segment-admin.resolvers.js';
import { Query as SegmentQuery, Segment, SegmentConnection } from './segment.resolvers.js';

export interface SchemaOptions {
  /** Mark scoped fields with Federation's `@requiresScopes` (config FEDERATION_AUTH_DIRECTIVES). */
  authDirectives?: boolean;
}

/** The SDL of every file in schema/, in one document (what codegen reads too). */
export function loadTypeDefs(options: SchemaOptions = {}, dir: string = schemaDir): DocumentNode {
  const files = readdirSync(dir).filter((f) => f.endsWith('.graphql')).sort();
  const typeDefs = parse(files.map((f) => readFileSync(path.join(dir, f), 'utf8')).join('\n'));
  return options.authDirectives ? withRequiresScopes(typeDefs) : typeDefs;
}

export const resolvers: Resolvers = {
  DateTime,
  Query: { ...SegmentQuery, ...admin.Query },
  Mutation: admin.Mutation,
  Customer,
  SegmentMembership,
  Segment,
  SegmentConnection,
  SegmentPreview: admin.SegmentPreview,
  SegmentChangePreview: admin.SegmentChangePreview,
  OrderFilter,
};

export function createSubgraphSchema(options: SchemaOptions = {}): GraphQLSchema {
  return buildSubgraphSchema({
    typeDefs: loadTypeDefs(options),
    resolvers: withScopes(resolvers) as GraphQLResolverMap<unknown>,
  });
}

/**
 * Wraps every field in FIELD_SCOPES so it resolves only for a caller holding
 * the scope. The subgraph enforces this itself, whatever sits in front of it.
 */
function withScopes(map: Resolvers): Resolvers {
  const wrapped: Record<string, Record<string, unknown>> = { ...(map as Record<string, Record<string, unknown>>) };
  for (const [typeName, fields] of Object.entries(FIELD_SCOPES)) {
    const typeResolvers = { ...(wrapped[typeName] ?? {}) };
    for (const [fieldName, scope] of Object.entries(fields)) {
      const resolve = (typeResolvers[fieldName] as GraphQLFieldResolver<unknown, Context> | undefined) ?? defaultFieldResolver;
      typeResolvers[fieldName] = async (parent: unknown, args: Record<string, unknown>, context: Context, info: Parameters<GraphQLFieldResolver<unknown, Context>>[3]) => {
        await context.auth.require(scope);
        return resolve(parent, args, context, info);
      };
    }
    wrapped[typeName] = typeResolvers;
  }
  return wrapped as Resolvers;
}

/** Adds `@requiresScopes` to the fields of FIELD_SCOPES and imports it through `@link`. */
function withRequiresScopes(typeDefs: DocumentNode): DocumentNode {
  const requiresScopes = (scope: string): DirectiveNode => ({
    kind: Kind.DIRECTIVE,
    name: { kind: Kind.NAME, value: 'requiresScopes' },
    arguments: [
      {
        kind: Kind.ARGUMENT,
        name: { kind: Kind.NAME, value: 'scopes' },
        value: {
          kind: Kind.LIST,
          values: [{ kind: Kind.LIST, values: [{ kind: Kind.STRING, value: scope }] }],
        },
      },
    ],
  });
  let typeName: string | undefined;
  return visit(typeDefs, {
    ObjectTypeDefinition: { enter: (node) => void (typeName = node.name.value) },
    ObjectTypeExtension: { enter: (node) => void (typeName = node.name.value) },
    FieldDefinition(node) {
      const scope = typeName ? FIELD_SCOPES[typeName]?.[node.name.value] : undefined;
      return scope ? { ...node, directives: [...(node.directives ?? []), requiresScopes(scope)] } : undefined;
    },
    Directive(node) {
      if (node.name.value !== 'link') return undefined;
      return {
        ...node,
        arguments: node.arguments?.map((arg) =>
          arg.name.value === 'import' && arg.value.kind === Kind.LIST
            ? { ...arg, value: { ...arg.value, values: [...arg.value.values, { kind: Kind.STRING, value: '@requiresScopes' }] } }
            : arg,
        ),
      };
    },
  });
}
