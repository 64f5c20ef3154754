/**
 * Composition root: config -> clients -> subgraph and/or workers -> signals.
 *
 *   node dist/src/index.js [all|subgraph|worker]
 *
 * `all` (the default, `npm start`) runs both in one process: the one-machine
 * setup. `subgraph` and `worker` run one each, to scale them apart.
 */
import { createApiDependencies, openApiQueues } from './api-dependencies.js';
import { ConfigError, loadConfig } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { createServer } from './server.js';
import { createStores } from './stores/create-stores.js';
import { startWorkers } from '../workers/index.js';

const ROLES = ['all', 'subgraph', 'worker'] as const;
type Role = (typeof ROLES)[number];

// Longer than any request, shorter than an orchestrator's kill timeout (Kubernetes: 30 s).
const SHUTDOWN_GRACE_MS = 25_000;

async function main(role: Role, logger: Logger): Promise<void> {
  const config = loadConfig();
  logger.level = config.logLevel;
  const stores = await createStores(config, logger);
  const stops: Array<() => Promise<void>> = [];

  if (role === 'all' || role === 'subgraph') {
    if (!config.auth.secret && !config.auth.jwksUrl) {
      logger.warn('neither JWT_SECRET nor JWT_JWKS_URL is set: every admin operation will be refused');
    }
    const apiQueues = openApiQueues(config.redisUrl, stores.keys.bullPrefix);
    const api = createApiDependencies(stores, apiQueues.queues, config.auth, config.serving.laggingAfterMs);
    const server = createServer(config, { ...api, logger, checkReadiness: () => stores.checkReadiness() });
    const port = await server.listen(config.port);
    stops.push(async () => {
      await server.stop();
      await apiQueues.close();
    });
    logger.info({ port, url: `http://localhost:${port}/` }, 'subgraph ready');
  }
  if (role === 'all' || role === 'worker') {
    const workers = await startWorkers({
      redisUrl: config.redisUrl,
      stores,
      logger,
      orderOutboxTrigger: config.orderOutboxTrigger,
      lockDurationMs: config.workerLockDurationMs,
    });
    stops.push(() => workers.close());
  }

  let stopping = false;
  const shutdown = async (signal: NodeJS.Signals) => {
    // Process managers may deliver a signal to the whole group more than once.
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing requests and jobs in progress');
    const deadline = setTimeout(() => {
      logger.error({ graceMs: SHUTDOWN_GRACE_MS }, 'shutdown took too long: exiting');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS);
    deadline.unref();
    // Stop taking work first (server drains, workers finish their job), then close the stores they used.
    await Promise.allSettled(stops.map((stop) => stop()));
    await stores.close();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', shutdown).on('SIGINT', shutdown);
}

const role = (process.argv[2] ?? 'all') as Role;
const logger = createLogger('info');
if (!ROLES.includes(role)) {
  console.error(`Unknown role "${role}": use one of ${ROLES.join(', ')}`);
  process.exit(64);
}
main(role, logger).catch((error: unknown) => {
  if (error instanceof ConfigError) console.error(error.message);
  else logger.fatal({ err: error }, 'failed to start');
  process.exit(1);
});
