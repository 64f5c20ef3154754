/**
 * Entry point: config -> migrations -> clients -> each role's composition
 * (the subgraph's read path and API, the workers' stores) -> signals.
 *
 *   node dist/src/index.js [all|subgraph|worker]
 *
 * `all` (the default, `npm start`) runs both in one process: the one-machine
 * setup. `subgraph` and `worker` run one each, to scale them apart.
 */
import { apiStores, createApiDependencies } from './graphql/api-dependencies.js';
import { checkSubgraphConfig, ConfigError, loadConfig } from './platform/config.js';
import { createLogger, type Logger } from './platform/logger.js';
import { setHealthGaugeSources } from './platform/metrics/health-gauges.js';
import { createOpsServer } from './http/ops-server.js';
import { createServer } from './http/server.js';
import { PipelineHealthRepository } from './stores/postgres/pipeline-health-repository.js';
import { QueueBoard } from './http/queue-board/index.js';
import { bullConnection, closeBullConnection } from './stores/redis/bull-connection.js';
import { watchBullConnections } from './stores/redis/watch-bull-connections.js';
import { assertSchemaCurrent, prepareDatabase, SchemaOutOfDateError } from './platform/prepare-database.js';
import { openStoreClients } from './platform/store-clients.js';
import { workerStores } from './pipeline/worker-stores.js';
import { openServing } from './serving/open-serving.js';
import { SegmentRepository } from './stores/postgres/segment-repository.js';
import { startWorkers } from '../workers/index.js';

const ROLES = ['all', 'subgraph', 'worker'] as const;
type Role = (typeof ROLES)[number];

// Longer than any request, shorter than an orchestrator's kill timeout (Kubernetes: 30 s).
const SHUTDOWN_GRACE_MS = 25_000;

async function main(role: Role, logger: Logger): Promise<void> {
  const config = loadConfig();
  if (role !== 'worker') checkSubgraphConfig(config);
  logger.level = config.logLevel;
  watchBullConnections(logger);
  // Listen for signals from the start: one that arrives while starting waits for the start to finish, then stops.
  let started = false;
  let stopping: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    // Process managers may deliver a signal to the whole group more than once.
    if (stopping) return;
    stopping = signal;
    const deadline = setTimeout(() => {
      logger.error({ graceMs: SHUTDOWN_GRACE_MS }, 'shutdown took too long: exiting');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS);
    deadline.unref();
    if (started) void shutdown(signal);
  };
  process.on('SIGTERM', onSignal).on('SIGINT', onSignal);
  // Migrations are a step of their own, before any role builds on the schema: the one-machine
  // default takes it here; roles started apart leave it to `npm run migrate` and refuse an older schema.
  if (role === 'all') {
    const { triggers } = await prepareDatabase(config.databaseUrl, { orderOutboxTrigger: config.orderOutboxTrigger, lockTimeoutMs: config.ddlLockTimeoutMs });
    if (triggers === 'not-applicable') logger.warn('orders is not a table this role owns: no capture trigger; producers must add order.created jobs');
  }
  const clients = openStoreClients({ ...config, previewPool: config.previews }, logger);
  if (role !== 'all') {
    try {
      await assertSchemaCurrent(clients.pool);
    } catch (error) {
      await clients.close();
      throw error;
    }
  }
  const stops: Array<() => Promise<void>> = [];
  const pipelineHealth = new PipelineHealthRepository(clients.pool);
  const segments = new SegmentRepository(clients.pool);
  setHealthGaugeSources({ backlogAges: () => pipelineHealth.backlogAges(), computeHealth: () => segments.computeHealth(), logger });

  if (role === 'all' || role === 'subgraph') {
    if (!config.auth.secret && !config.auth.jwksUrl) {
      logger.warn('neither JWT_SECRET nor JWT_JWKS_URL is set: every admin operation will be refused');
    }
    const serving = await openServing(clients, logger, segments);
    const api = createApiDependencies(apiStores(clients, serving), config.auth, {
      laggingAfterMs: config.serving.laggingAfterMs,
      previews: { maxConcurrentPerCaller: config.previews.maxConcurrentPerToken },
      ...(config.erasureAuditKey ? { erasureAuditKey: config.erasureAuditKey } : {}),
      maxLiveSegments: config.maxLiveSegments,
    });
    // The board opens its queues at first use; the worker-only role has none.
    const boardConnection = bullConnection(config.redis, 'segments-queue-board', logger);
    const queueBoard = new QueueBoard({ connection: boardConnection, keys: clients.keys, logger });
    if (!config.routerSecret && !config.routerOnlyNetwork) logger.warn('ROUTER_SHARED_SECRET is not set: anyone who reaches this port can query every customer\'s segments');
    const server = createServer(
      { ...config, secureAdminCookie: config.nodeEnv === 'production', metrics: config.metricsPort === undefined },
      { ...api, logger, checkReadiness: () => clients.checkReadiness(), queueBoard },
    );
    const port = await server.listen(config.port, config.host);
    stops.push(async () => {
      try {
        await server.stop();
      } finally {
        await queueBoard.close();
        await closeBullConnection(boardConnection);
      }
    });
    logger.info({ port, url: `http://localhost:${port}/` }, 'subgraph ready');
    if (config.metricsPort !== undefined) {
      const metrics = createOpsServer({ logger, checkReadiness: () => clients.checkReadiness() });
      const metricsPort = await metrics.listen(config.metricsPort, config.host);
      stops.push(() => metrics.stop());
      logger.info({ port: metricsPort }, 'metrics listener ready: /metrics, /health/live, /health/ready');
    }
  }
  if (role === 'all' || role === 'worker') {
    const workers = await startWorkers({
      redis: config.redis,
      stores: workerStores(clients),
      logger,
      lockDurationMs: config.workerLockDurationMs,
      membershipEventRetentionDays: config.membershipEventRetentionDays,
      reconciler: { batch: config.servingReconcileBatch },
    });
    stops.push(() => workers.close());
    // Role `all` serves /metrics and the health checks on the subgraph's port.
    if (role === 'worker') {
      const ops = createOpsServer({ logger, checkReadiness: () => clients.checkReadiness() });
      const port = await ops.listen(config.workerPort, config.host);
      stops.push(() => ops.stop());
      logger.info({ port }, 'worker operations listener ready: /metrics, /health/live, /health/ready');
    }
  }

  async function shutdown(signal: NodeJS.Signals) {
    logger.info({ signal }, 'shutting down: finishing requests and jobs in progress');
    // Stop taking work first (server drains, workers finish their job), then close the stores they used.
    await Promise.allSettled(stops.map((stop) => stop()));
    await clients.close();
    logger.info('stopped');
    process.exit(0);
  }
  started = true;
  if (stopping) await shutdown(stopping);
}

const role = (process.argv[2] ?? 'all') as Role;
const logger = createLogger('info');
if (!ROLES.includes(role)) {
  console.error(`Unknown role "${role}": use one of ${ROLES.join(', ')}`);
  process.exit(64);
}
main(role, logger).catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof SchemaOutOfDateError) console.error(error.message);
  else logger.fatal({ err: error }, 'failed to start');
  process.exit(1);
});
