import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { DEMO_CUSTOMERS, type DemoCustomer } from './demo-customers.js';

/**
 * A stand-in for the team that owns `Customer` in a real supergraph: it knows
 * ids, names and emails, and nothing about segments.
 */
export const customersTypeDefs = parse(/* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])

  "A customer of the marketplace, owned by the customers subgraph."
  type Customer @key(fields: "id") {
    id: ID!
    name: String!
    email: String!
  }

  type Query {
    "One customer by id; null when there is none."
    customer(id: ID!): Customer
    "The first customers, by id (1 to 100, 10 by default)."
    customers(first: Int = 10): [Customer!]!
  }
`);

/**
 * Any other customer `npm run seed` makes (`cust-00000042`) gets a made-up
 * name, so a preview's random sample of a seeded database shows names too.
 * Other ids are unknown: null.
 */
function seededCustomer(id: string): DemoCustomer | null {
  const number = /^cust-(\d{8})$/.exec(id)?.[1];
  if (!number) return null;
  return { id, name: `Customer ${Number(number)}`, email: `customer${Number(number)}@example.com` };
}

/** The customers subgraph's Apollo Server over `customers`, not yet listening. */
export function createCustomersServer(customers: readonly DemoCustomer[] = DEMO_CUSTOMERS): ApolloServer {
  const byId = new Map(customers.map((c) => [c.id, c]));
  const find = (id: string) => byId.get(id) ?? seededCustomer(id);
  return new ApolloServer({
    schema: buildSubgraphSchema({
      typeDefs: customersTypeDefs,
      resolvers: {
        Query: {
          customer: (_: unknown, { id }: { id: string }) => find(id),
          customers: (_: unknown, { first }: { first: number }) => customers.slice(0, Math.min(Math.max(first, 1), 100)),
        },
        Customer: { __resolveReference: ({ id }: { id: string }) => find(id) },
      },
    }),
    plugins: [ApolloServerPluginInlineTraceDisabled()],
  });
}

export interface RunningCustomersSubgraph {
  url: string;
  stop(): Promise<void>;
}

/** Starts the customers subgraph on `port` (0: any free one) of `host`. */
export async function startCustomersSubgraph(port = 0, host = '127.0.0.1'): Promise<RunningCustomersSubgraph> {
  const server = createCustomersServer();
  const { url } = await startStandaloneServer(server, { listen: { port, host } });
  return { url, stop: () => server.stop() };
}
