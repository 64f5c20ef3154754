import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { buildSubgraphSchema } from '@apollo/subgraph';
// Not re-exported from the package root; Apollo's own subgraph templates import it from here.
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';
import { parse, type GraphQLSchema } from 'graphql';
import type { Resolvers } from '../generated/graphql.js';
import { schemaDir } from '../paths.js';
import { Customer } from './customer.resolvers.js';
import { DateTime } from './date-time.scalar.js';
import { Query, Segment, SegmentConnection } from './segment.resolvers.js';

/** The SDL of every file in schema/, in one document (what codegen reads too). */
export function loadTypeDefs(dir: string = schemaDir) {
  const files = readdirSync(dir).filter((f) => f.endsWith('.graphql')).sort();
  return parse(files.map((f) => readFileSync(path.join(dir, f), 'utf8')).join('\n'));
}

export const resolvers: Resolvers = { DateTime, Query, Customer, Segment, SegmentConnection };

export function createSubgraphSchema(): GraphQLSchema {
  return buildSubgraphSchema({ typeDefs: loadTypeDefs(), resolvers: resolvers as GraphQLResolverMap<unknown> });
}
