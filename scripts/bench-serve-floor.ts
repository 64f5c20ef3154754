/**
 * The floor of `npm run bench:serve`: a subgraph of the same SDL whose
 * resolvers return constants, on the same HTTP stack (Express 5, Apollo
 * Server, graphql-js) and in its own process, so that what it costs is what
 * any subgraph of this schema costs before it reads a store.
 *
 *   PORT=4101 NODE_ENV=production node dist/scripts/bench-serve-floor.js
 */
import http from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import { buildSubgraphSchema } from '@apollo/subgraph';
import express from 'express';
import { loadTypeDefs } from '../src/graphql/schema.js';

const since = '2026-01-15T10:00:00.000Z';
const SEGMENTS = Array.from({ length: 10 }, (_, i) => ({ id: String(i + 1), name: `bench ${i + 1}`, status: 'ACTIVE', kind: 'STATIC', size: 100_000 }));
const MEMBERSHIPS = SEGMENTS.map((segment) => ({ segment, since }));
const FRESHNESS = { source: 'REDIS', status: 'FRESH', upToDateAt: since };

const schema = buildSubgraphSchema({
  typeDefs: loadTypeDefs(),
  resolvers: {
    Customer: {
      __resolveReference: (reference: { id: string }) => ({ id: reference.id }),
      segments: () => SEGMENTS,
      isInSegment: () => true,
      segmentMemberships: () => MEMBERSHIPS,
      segmentsFreshness: () => FRESHNESS,
    },
  },
});

const app = express();
const apollo = new ApolloServer({ schema, plugins: [ApolloServerPluginLandingPageDisabled()] });
await apollo.start();
app.all('/', express.json({ limit: '1mb' }), expressMiddleware(apollo));
const server = http.createServer(app);
server.listen(Number(process.env.PORT ?? 4101), '127.0.0.1', () => console.log('ready'));
process.on('SIGTERM', () => {
  server.close();
  void apollo.stop().then(() => process.exit(0));
});
