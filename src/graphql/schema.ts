import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { buildSubgraphSchema } from '@apollo/subgraph';
// Not re-exported from the package root; Apollo's own subgraph templates import it from here.
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';
import {
  defaultFieldResolver,
  isObjectType,
  Kind,
  parse,
  visit,
  type DirectiveNode,
  type DocumentNode,
  type GraphQLFieldResolver,
  type GraphQLSchema,
} from 'graphql';
import { fieldAccess, GUARDED_TYPES, PUBLIC } from '../auth/field-scopes.js';
import type { Context } from './context.js';
import type { Resolvers } from '../generated/graphql.js';
import { schemaDir } from '../platform/paths.js';
import { Customer, SegmentMembership } from './customer.resolvers.js';
import { DateTime } from './date-time.scalar.js';
import * as history from './membership-history.resolvers.js';
import { OrderFilter } from './rule.resolvers.js';
import * as explanation from './membership-explanation.resolvers.js';
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
  Query: { ...SegmentQuery, ...admin.Query, ...explanation.Query },
  Mutation: admin.Mutation,
  Customer: { ...Customer, ...history.Customer },
  SegmentMembership,
  Segment: { ...Segment, ...history.Segment },
  SegmentConnection,
  MembershipChange: history.MembershipChange,
  MembershipChangeConnection: history.MembershipChangeConnection,
  SegmentPreview: admin.SegmentPreview,
  SegmentChangePreview: admin.SegmentChangePreview,
  MembershipExplanation: explanation.MembershipExplanation,
  OrderFilter,
};

export function createSubgraphSchema(options: SchemaOptions = {}): GraphQLSchema {
  const schema = buildSubgraphSchema({ typeDefs: loadTypeDefs(options), resolvers: resolvers as GraphQLResolverMap<unknown> });
  guardFields(schema);
  return schema;
}

/** A field of a guarded type has no entry in FIELD_SCOPES: the schema refuses to build. */
export class MissingFieldDecisionError extends Error {
  constructor(readonly fields: string[]) {
    super(`no authorization decision in FIELD_SCOPES for ${fields.join(', ')}; give each a scope or PUBLIC`);
    this.name = 'MissingFieldDecisionError';
  }
}

/**
 * Enforces FIELD_SCOPES on the built schema: every field of a guarded type
 * resolves only for a caller holding its scope, unless it is PUBLIC. The
 * subgraph enforces this itself, whatever sits in front of it. A field with
 * no decision is refused at start-up rather than served to anyone.
 */
export function guardFields(schema: GraphQLSchema): void {
  const undecided: string[] = [];
  for (const typeName of GUARDED_TYPES) {
    const type = schema.getType(typeName);
    if (!isObjectType(type)) continue;
    for (const field of Object.values(type.getFields())) {
      const access = fieldAccess(typeName, field.name);
      if (access === undefined) undecided.push(`${typeName}.${field.name}`);
      if (access === undefined || access === PUBLIC) continue;
      const resolve: GraphQLFieldResolver<unknown, Context> = field.resolve ?? defaultFieldResolver;
      field.resolve = async (parent, args, context: Context, info) => {
        await context.auth.require(access);
        return resolve(parent, args, context, info);
      };
    }
  }
  if (undecided.length > 0) throw new MissingFieldDecisionError(undecided);
}

/** Adds `@requiresScopes` to the scoped fields of FIELD_SCOPES and imports it through `@link`. */
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
      const scope = typeName ? fieldAccess(typeName, node.name.value) : undefined;
      return scope && scope !== PUBLIC ? { ...node, directives: [...(node.directives ?? []), requiresScopes(scope)] } : undefined;
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
