import { composeServices } from '@apollo/composition';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { loadTypeDefs } from '../../src/graphql/schema.js';
import { customersTypeDefs } from '../customers-subgraph/customers-subgraph.js';

/** Where the gateway finds each subgraph; the URLs end up in the supergraph schema. */
export interface SubgraphUrls {
  /** @defaultValue `http://localhost:4001/` (this service's PORT default) */
  segments: string;
  /** @defaultValue `http://localhost:4003/` (the customers example's CUSTOMERS_PORT default) */
  customers: string;
}

export const DEFAULT_SUBGRAPH_URLS: SubgraphUrls = {
  segments: 'http://localhost:4001/',
  customers: 'http://localhost:4003/',
};

/**
 * The request headers the gateway passes on to every subgraph, as
 * ops/router/router.yaml has Apollo Router do: the caller's token and the
 * ids that tie the subgraphs' logs to one request.
 */
export const PROPAGATED_HEADERS = ['authorization', 'x-request-id', 'traceparent'] as const;

export class CompositionError extends Error {
  override name = 'CompositionError';
}

/**
 * Composes the customers example and this subgraph's SDL (schema/*.graphql)
 * with @apollo/composition. Throws a `CompositionError` listing every error.
 */
export function composeDemoSupergraph(urls: SubgraphUrls = DEFAULT_SUBGRAPH_URLS): string {
  const result = composeServices([
    { name: 'customers', typeDefs: customersTypeDefs, url: urls.customers },
    { name: 'segments', typeDefs: loadTypeDefs(), url: urls.segments },
  ]);
  if (result.errors) {
    throw new CompositionError(`Composition failed:\n${result.errors.map((e) => `- ${e.message}`).join('\n')}`);
  }
  return result.supergraphSdl;
}

/**
 * Fetches for the gateway as Apollo Router reads subgraph answers: the
 * GraphQL errors of a JSON body count whatever the HTTP status (see
 * apollographql/router#1664), where @apollo/gateway alone would replace a
 * 4xx answer (an unauthenticated admin call, a refused operation) by
 * INTERNAL_SERVER_ERROR.
 */
export async function fetchLikeTheRouter(url: string, init?: RequestInit): Promise<Response> {
  const response = await fetch(url, init);
  if (response.ok || !(response.headers.get('content-type') ?? '').includes('json')) return response;
  const body = await response.text();
  const hasErrors = (() => {
    try {
      return Array.isArray((JSON.parse(body) as { errors?: unknown }).errors);
    } catch {
      return false;
    }
  })();
  return new Response(body, { status: hasErrors ? 200 : response.status, statusText: response.statusText, headers: response.headers });
}

type ForwardedHeaders = Partial<Record<(typeof PROPAGATED_HEADERS)[number], string>>;

/** The segments subgraph's shared secret, sent as ops/router/router.yaml has Apollo Router send it. */
export interface RouterSecret {
  secret: string;
  /** @defaultValue `Router-Authorization` */
  header?: string;
}

/**
 * An Apollo Server running @apollo/gateway over `supergraphSdl`, with Sandbox
 * outside production. With `segmentsSecret`, every request to the segments
 * subgraph (and to it only) carries its shared secret.
 */
export function createGatewayServer(supergraphSdl: string, segmentsSecret?: RouterSecret): ApolloServer<ForwardedHeaders> {
  const gateway = new ApolloGateway({
    supergraphSdl,
    buildService: ({ name, url }) =>
      new RemoteGraphQLDataSource<ForwardedHeaders>({
        url,
        fetcher: fetchLikeTheRouter as unknown as RemoteGraphQLDataSource['fetcher'],
        willSendRequest: ({ request, context }) => {
          for (const name of PROPAGATED_HEADERS) {
            const value = (context as ForwardedHeaders)[name];
            if (value) request.http?.headers.set(name, value);
          }
          if (segmentsSecret && name === 'segments') request.http?.headers.set(segmentsSecret.header ?? 'Router-Authorization', segmentsSecret.secret);
        },
      }),
  });
  // No stack traces in answers: a subgraph that cannot be reached is an error message, not a trace.
  return new ApolloServer<ForwardedHeaders>({ gateway, includeStacktraceInErrorResponses: false });
}

export interface RunningSupergraph {
  url: string;
  stop(): Promise<void>;
}

/** Serves the gateway on `port` (0: any free one) of `host`, forwarding PROPAGATED_HEADERS. */
export async function startGateway(supergraphSdl: string, port = 0, host = '127.0.0.1', segmentsSecret?: RouterSecret): Promise<RunningSupergraph> {
  const server = createGatewayServer(supergraphSdl, segmentsSecret);
  const { url } = await startStandaloneServer(server, {
    listen: { port, host },
    context: async ({ req }) => {
      const forwarded: ForwardedHeaders = {};
      for (const name of PROPAGATED_HEADERS) {
        const value = req.headers[name];
        if (typeof value === 'string') forwarded[name] = value;
      }
      return forwarded;
    },
  });
  return { url, stop: () => server.stop() };
}
