import { createLogger } from '../../src/logger.js';
import { createServer, type ServerOptions } from '../../src/server.js';
import type { Stores } from '../../src/stores/create-stores.js';

export interface RunningSubgraph {
  url: string;
  stop(): Promise<void>;
}

/** The real subgraph server over `stores`, listening on a free loopback port. */
export async function startSubgraph(
  stores: Stores,
  options: ServerOptions = { introspection: true, landingPage: false },
): Promise<RunningSubgraph> {
  const server = createServer(
    options,
    {
      segments: stores.segments,
      catalog: stores.catalog,
      servingStore: stores.servingStore,
      checkReadiness: () => stores.checkReadiness(),
      logger: createLogger('silent'),
    },
  );
  const port = await server.listen(0, '127.0.0.1');
  return { url: `http://127.0.0.1:${port}/`, stop: () => server.stop() };
}

export interface GraphQLResponse<TData = Record<string, any>> {
  data?: TData | null;
  errors?: Array<{ message: string; path?: Array<string | number>; extensions?: Record<string, unknown> }>;
}

/** Sends one operation over HTTP, as any client would. */
export async function execute<TData = Record<string, any>>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<GraphQLResponse<TData>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as GraphQLResponse<TData>;
}
