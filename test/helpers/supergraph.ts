import { composeServices } from '@apollo/composition';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { fetchLikeTheRouter } from '../../examples/supergraph/index.js';
import { loadTypeDefs } from '../../src/graphql/schema.js';

// A stand-in for the team that owns Customer: it knows ids and names only.
export const customersTypeDefs = parse(/* GraphQL */ `
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

export interface RunningSupergraph {
  url: string;
  stop(): Promise<void>;
}

/**
 * A stub customers subgraph (names from `names`, or "Customer <id>" for any id
 * when `names` is empty) composed with the segments subgraph at `segmentsUrl`
 * by @apollo/composition and served by @apollo/gateway, which passes the
 * caller's Authorization header on to the subgraphs and reads their errors as
 * Apollo Router does.
 */
export async function startSupergraph(segmentsUrl: string, names: Record<string, string> = {}): Promise<RunningSupergraph> {
  const known = Object.keys(names).length > 0;
  const customer = (id: string) => (!known ? { id, name: `Customer ${id}` } : names[id] ? { id, name: names[id] } : null);
  const customersServer = new ApolloServer({
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
    { name: 'segments', typeDefs: loadTypeDefs(), url: segmentsUrl },
  ]);
  if (composition.errors) throw new Error(composition.errors.map((e) => e.message).join('\n'));
  const gateway = new ApolloGateway({
    supergraphSdl: composition.supergraphSdl,
    buildService: ({ url }) =>
      new RemoteGraphQLDataSource<{ authorization?: string }>({
        url,
        fetcher: fetchLikeTheRouter as unknown as RemoteGraphQLDataSource['fetcher'],
        willSendRequest: ({ request, context }) => {
          if (context.authorization) request.http?.headers.set('authorization', context.authorization);
        },
      }),
  });
  const gatewayServer = new ApolloServer<{ authorization?: string }>({ gateway });
  const { url } = await startStandaloneServer(gatewayServer, {
    listen: { port: 0, host: '127.0.0.1' },
    context: async ({ req }) => ({ authorization: req.headers.authorization }),
  });
  return {
    url,
    async stop() {
      await gatewayServer.stop();
      await customersServer.stop();
    },
  };
}
