import { Worker, type Job } from 'bullmq';
import {
  bullConnection,
  createMaintenanceQueue,
  MAINTENANCE_QUEUE,
  requestServingStoreRebuild,
  scheduleServingStoreCheck,
  type MaintenanceJob,
} from '../src/jobs/maintenance-queue.js';
import type { Logger } from '../src/logger.js';
import type { Stores } from '../src/stores/create-stores.js';
import { createRebuildServingStoreProcessor } from './rebuild-serving-store.processor.js';
import { UnreachableCaseError } from './unreachable-case-error.js';

export interface WorkerDependencies {
  redisUrl: string;
  stores: Stores;
  logger: Logger;
  /** Period of the serving-store check. @defaultValue SERVING_STORE_CHECK_EVERY_MS */
  servingStoreCheckEveryMs?: number;
}

export interface RunningWorkers {
  /** Finishes the jobs in progress (BullMQ hands unfinished ones to another worker), then disconnects. */
  close(): Promise<void>;
}

/**
 * Starts the worker process's BullMQ workers. On start it makes sure the
 * serving store exists (Redis may have restarted empty) and keeps checking it.
 */
export async function startWorkers(deps: WorkerDependencies): Promise<RunningWorkers> {
  const { stores, logger } = deps;
  const connection = bullConnection(deps.redisUrl, 'segments-worker');
  const prefix = stores.keys.bullPrefix;
  const rebuild = createRebuildServingStoreProcessor(stores, logger);

  const maintenance = new Worker<MaintenanceJob['data'], unknown, MaintenanceJob['name']>(
    MAINTENANCE_QUEUE,
    async (job: Job<MaintenanceJob['data'], unknown, MaintenanceJob['name']>) => {
      const name = job.name;
      switch (name) {
        case 'rebuild-serving-store':
          return rebuild(job);
        default:
          throw new UnreachableCaseError(name);
      }
    },
    // One at a time: maintenance jobs rewrite the whole store.
    { connection, prefix, concurrency: 1 },
  );
  maintenance.on('failed', (job, error) =>
    logger.error({ err: error, jobId: job?.id, job: job?.name, attempt: job?.attemptsMade }, 'maintenance job failed'),
  );
  maintenance.on('error', (error) => logger.error({ err: error }, 'maintenance worker error'));

  const queue = createMaintenanceQueue(connection, prefix);
  await scheduleServingStoreCheck(queue, deps.servingStoreCheckEveryMs);
  await requestServingStoreRebuild(queue, { onlyIfMissing: true });
  logger.info({ queues: [MAINTENANCE_QUEUE] }, 'workers started');

  return {
    async close() {
      await maintenance.close();
      await queue.close();
    },
  };
}
