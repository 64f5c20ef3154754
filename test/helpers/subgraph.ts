import { createApiDependencies, type ApiOptions } from '../../src/graphql/api-dependencies.js';
import { createMaintenanceQueue, type MaintenanceQueue } from '../../src/jobs/maintenance-queue.js';
import { bullConnection, closeBullConnection } from '../../src/stores/redis/bull-connection.js';
import { createRecomputeQueue, type RecomputeQueue } from '../../src/jobs/recompute-queue.js';
import { createLogger, type Logger } from '../../src/platform/logger.js';
import { QueueBoard } from '../../src/http/queue-board/index.js';
import { createServer, type ServerOptions } from '../../src/http/server.js';
import type { Stores } from './test-environment.js';
import { TEST_REDIS_URL } from './test-environment.js';
import { TEST_AUTH } from './tokens.js';

export interface RunningSubgraph {
  url: string;
  /** The recompute queue of this test's workers, to inspect what was asked of it. */
  recomputeQueue: RecomputeQueue;
  maintenanceQueue: MaintenanceQueue;
  stop(): Promise<void>;
}

/** The real subgraph server over `stores`, listening on a free loopback port. */
export async function startSubgraph(
  stores: Stores,
  options: ServerOptions = { introspection: true, landingPage: false },
  deps: { logger?: Logger; api?: ApiOptions } = {},
): Promise<RunningSubgraph> {
  const connection = bullConnection({ url: TEST_REDIS_URL }, 'segments-test');
  const recomputeQueue = createRecomputeQueue(connection, stores.keys);
  const maintenanceQueue = createMaintenanceQueue(connection, stores.keys);
  const api = createApiDependencies(stores, TEST_AUTH, deps.api);
  const logger = deps.logger ?? createLogger('silent');
  const queueBoard = new QueueBoard({ connection, keys: stores.keys, logger });
  const server = createServer(options, { ...api, checkReadiness: () => stores.checkReadiness(), logger, queueBoard });
  const port = await server.listen(0, '127.0.0.1');
  return {
    url: `http://127.0.0.1:${port}/`,
    recomputeQueue,
    maintenanceQueue,
    async stop() {
      await server.stop();
      await Promise.all([recomputeQueue.close(), maintenanceQueue.close(), queueBoard.close()]);
      await closeBullConnection(connection);
    },
  };
}

export interface GraphQLResponse<TData = Record<string, any>> {
  data?: TData | null;
  errors?: Array<{ message: string; path?: Array<string | number>; extensions?: Record<string, any> }>;
}

/** Sends one operation over HTTP, as any client would; `token` goes in the Authorization header. */
export async function execute<TData = Record<string, any>>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
): Promise<GraphQLResponse<TData>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as GraphQLResponse<TData>;
}
