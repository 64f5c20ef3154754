import { composeServices } from '@apollo/composition';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTypeDefs } from '../../src/graphql/schema.js';
import { addMembers, createSegment } from '../helpers/fixtures.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';
import { readerToken } from '../helpers/tokens.js';

// A stand-in for the team that owns Customer: it knows ids and names only.
const customersTypeDefs = parse(/* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
  type Customer @key(fields: "id") {
    id: ID!
    name: String!
  }
  type Query {
    customer(id: ID!): Customer
    customers: [Customer!]!
  }
`);
const names: Record<string, string> = { 'c-ada': 'Ada', 'c-bob': 'Bob', 'c-eve': 'Eve' };
const customer = (id: string) => (names[id] ? { id, name: names[id] } : null);

describe('the subgraph in a composed supergraph', () => {
  let stores: TestStores;
  let segmentsSubgraph: RunningSubgraph;
  let customersServer: ApolloServer;
  let gatewayServer: ApolloServer;
  let gatewayUrl: string;
  let vip: number;
  let lapsed: number;

  beforeAll(async () => {
    stores = await createTestStores();
    segmentsSubgraph = await startSubgraph(stores);
    vip = (await createSegment(stores, 'VIP')).id;
    lapsed = (await createSegment(stores, 'Lapsed')).id;
    await addMembers(stores, vip, ['c-ada', 'c-bob']);
    await addMembers(stores, lapsed, ['c-bob']);

    customersServer = new ApolloServer({
      schema: buildSubgraphSchema({
        typeDefs: customersTypeDefs,
        resolvers: {
          Query: { customer: (_: unknown, { id }: { id: string }) => customer(id), customers: () => Object.keys(names).map(customer) },
          Customer: { __resolveReference: ({ id }: { id: string }) => customer(id) },
        },
      }),
      plugins: [ApolloServerPluginInlineTraceDisabled()],
    });
    const { url: customersUrl } = await startStandaloneServer(customersServer, { listen: { port: 0, host: '127.0.0.1' } });

    const composition = composeServices([
      { name: 'customers', typeDefs: customersTypeDefs, url: customersUrl },
      { name: 'segments', typeDefs: loadTypeDefs(), url: segmentsSubgraph.url },
    ]);
    if (composition.errors) throw new Error(composition.errors.map((e) => e.message).join('\n'));
    // The gateway passes the caller's Authorization header on to the subgraphs,
    // as a router is configured to (README "Authorization").
    const gateway = new ApolloGateway({
      supergraphSdl: composition.supergraphSdl,
      buildService: ({ url }) =>
        new RemoteGraphQLDataSource<{ authorization?: string }>({
          url,
          willSendRequest: ({ request, context }) => {
            if (context.authorization) request.http?.headers.set('authorization', context.authorization);
          },
        }),
    });
    gatewayServer = new ApolloServer<{ authorization?: string }>({ gateway });
    ({ url: gatewayUrl } = await startStandaloneServer(gatewayServer, {
      listen: { port: 0, host: '127.0.0.1' },
      context: async ({ req }) => ({ authorization: req.headers.authorization }),
    }));
  });
  afterAll(async () => {
    await gatewayServer?.stop();
    await customersServer?.stop();
    await segmentsSubgraph?.stop();
    await stores?.dispose();
  });

  it('answers a page query that mixes both subgraphs', async () => {
    const result = await execute(
      gatewayUrl,
      `query ($id: ID!, $segment: ID!) {
        customer(id: $id) { name segments { id name } isInSegment(id: $segment) }
      }`,
      { id: 'c-bob', segment: String(lapsed) },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({
      customer: {
        name: 'Bob',
        segments: [
          { id: String(vip), name: 'VIP' },
          { id: String(lapsed), name: 'Lapsed' },
        ],
        isInSegment: true,
      },
    });
  });

  it('fills segment fields for a list of customers in one fetch from this subgraph', async () => {
    const result = await execute(
      gatewayUrl,
      `{ customers { name isInSegment(id: "${vip}") segmentMemberships { since segment { name } } } }`,
    );
    expect(result.errors).toBeUndefined();
    expect(result.data!.customers).toEqual([
      { name: 'Ada', isInSegment: true, segmentMemberships: [{ since: '2026-01-15T10:00:00.000Z', segment: { name: 'VIP' } }] },
      {
        name: 'Bob',
        isInSegment: true,
        segmentMemberships: [
          { since: '2026-01-15T10:00:00.000Z', segment: { name: 'VIP' } },
          { since: '2026-01-15T10:00:00.000Z', segment: { name: 'Lapsed' } },
        ],
      },
      { name: 'Eve', isInSegment: false, segmentMemberships: [] },
    ]);
  });

  it('serves the Segment queries of this subgraph through the gateway', async () => {
    const result = await execute(gatewayUrl, `{ segment(id: "${vip}") { name status } segments { totalCount } }`, {}, await readerToken());
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ segment: { name: 'VIP', status: 'ACTIVE' }, segments: { totalCount: 2 } });
  });
});
