import { Worker, type Job, type Processor } from 'bullmq';
import {
  bullConnection,
  createMaintenanceQueue,
  MAINTENANCE_QUEUE,
  requestServingStoreRebuild,
  schedulePublishing,
  scheduleServingStoreCheck,
  type MaintenanceJob,
  type RebuildServingStoreJob,
} from '../src/jobs/maintenance-queue.js';
import { createOrderEventsQueue, ORDER_EVENTS_QUEUE, type OrderCreatedEvent } from '../src/jobs/order-events-queue.js';
import {
  createRecomputeQueue,
  RECOMPUTE_QUEUE,
  recomputeRequests,
  type RecomputeQueue,
  type RecomputeSegmentJob,
} from '../src/jobs/recompute-queue.js';
import type { Logger } from '../src/logger.js';
import type { Stores } from '../src/stores/create-stores.js';
import { closeRedis, createRedis } from '../src/stores/redis/client.js';
import { LiveRuleIndex } from './live-rule-index.js';
import { createOrderEventProcessor } from './order-event.processor.js';
import { OrderOutboxRelay } from './order-outbox-relay.js';
import { createMembershipPublisher, PERIODIC_LOCK_WAIT_MS } from './publish-membership-events.processor.js';
import { createRebuildServingStoreProcessor } from './rebuild-serving-store.processor.js';
import { createRecomputeProcessor } from './recompute-segment.processor.js';
import { UnreachableCaseError } from './unreachable-case-error.js';

export interface WorkerDependencies {
  redisUrl: string;
  stores: Stores;
  logger: Logger;
  /** Keep the trigger that feeds the order outbox installed (config ORDER_OUTBOX_TRIGGER). @defaultValue true */
  orderOutboxTrigger?: boolean;
  /**
   * BullMQ lock duration: a job whose worker died is retried by another after
   * about this long (config WORKER_LOCK_DURATION_MS). @defaultValue 30_000
   */
  lockDurationMs?: number;
  /** Period of the serving-store check. @defaultValue SERVING_STORE_CHECK_EVERY_MS */
  servingStoreCheckEveryMs?: number;
}

export interface RunningWorkers {
  /** Finishes the jobs in progress (BullMQ hands unfinished ones to another worker), then disconnects. */
  close(): Promise<void>;
}

// Full recomputes are heavy Postgres statements: a couple at a time. Customer
// evaluations are small and mostly wait on I/O.
const RECOMPUTE_CONCURRENCY = 2;
const ORDER_EVENT_CONCURRENCY = 8;

/**
 * Starts the worker process: full recomputes, the event path with its outbox
 * relay, publication of membership events, and serving-store maintenance.
 */
export async function startWorkers(deps: WorkerDependencies): Promise<RunningWorkers> {
  const { stores, logger } = deps;
  const connection = bullConnection(deps.redisUrl, 'segments-worker');
  const prefix = stores.keys.bullPrefix;
  const lockDuration = deps.lockDurationMs ?? 30_000;
  const workerOptions = (concurrency: number) => ({ connection, prefix, concurrency, lockDuration, stalledInterval: lockDuration });

  const maintenanceQueue = createMaintenanceQueue(connection, prefix);
  const recomputeQueue = createRecomputeQueue(connection, prefix);
  const orderEventsQueue = createOrderEventsQueue(connection, prefix);
  const recompute = recomputeRequests(recomputeQueue);
  const publish = createMembershipPublisher(stores, logger);

  const subscriber = createRedis(deps.redisUrl, { connectionName: 'segments-worker-subscriber', logger });
  const ruleIndex = new LiveRuleIndex(stores, subscriber, logger);
  await ruleIndex.start();

  const rebuild = createRebuildServingStoreProcessor(stores, logger);
  const workers = [
    watch(
      new Worker<MaintenanceJob['data'], unknown, MaintenanceJob['name']>(
        MAINTENANCE_QUEUE,
        async (job: Job<MaintenanceJob['data'], unknown, MaintenanceJob['name']>) => {
          const name = job.name;
          switch (name) {
            case 'rebuild-serving-store':
              return rebuild(job as Job<RebuildServingStoreJob['data']>);
            case 'publish-membership-events':
              return publish(PERIODIC_LOCK_WAIT_MS);
            default:
              throw new UnreachableCaseError(name);
          }
        },
        // One at a time: these jobs write the whole serving store.
        workerOptions(1),
      ),
      logger,
    ),
    watch(
      new Worker<RecomputeSegmentJob['data']>(
        RECOMPUTE_QUEUE,
        createRecomputeProcessor(stores, recompute, publish, logger) as Processor<RecomputeSegmentJob['data']>,
        workerOptions(RECOMPUTE_CONCURRENCY),
      ),
      logger,
    ),
    watch(
      new Worker<OrderCreatedEvent>(
        ORDER_EVENTS_QUEUE,
        createOrderEventProcessor(stores, ruleIndex.current, publish) as Processor<OrderCreatedEvent>,
        workerOptions(ORDER_EVENT_CONCURRENCY),
      ),
      logger,
    ),
  ];

  const trigger = await stores.orderOutbox.setTrigger(deps.orderOutboxTrigger ?? true);
  if (trigger === 'not-applicable') {
    logger.warn('orders is not a table this role owns: no outbox trigger; producers must add order.created jobs');
  }
  const relay = new OrderOutboxRelay(stores.pool, stores.orderOutbox, orderEventsQueue, logger);
  await relay.start();

  await scheduleServingStoreCheck(maintenanceQueue, deps.servingStoreCheckEveryMs);
  await schedulePublishing(maintenanceQueue);
  await requestServingStoreRebuild(maintenanceQueue, { onlyIfMissing: true });
  // Segments created while Redis was unreachable, or archived since, get their schedules put right.
  reconcileSchedules(stores, recomputeQueue, recompute).catch((error: unknown) =>
    logger.error({ err: error }, 'reconciling recompute schedules failed'),
  );
  logger.info({ queues: [MAINTENANCE_QUEUE, RECOMPUTE_QUEUE, ORDER_EVENTS_QUEUE] }, 'workers started');

  return {
    async close() {
      await relay.stop();
      await Promise.all(workers.map((worker) => worker.close()));
      await ruleIndex.stop();
      await Promise.all([maintenanceQueue.close(), recomputeQueue.close(), orderEventsQueue.close()]);
      await closeRedis(subscriber);
    },
  };
}

// Any job shape: only names and errors are logged.
function watch<T extends Worker<any, any, any>>(worker: T, logger: Logger): T {
  worker.on('failed', (job, error) =>
    logger.error({ err: error, queue: worker.name, jobId: job?.id, job: job?.name, attempt: job?.attemptsMade }, 'job failed'),
  );
  worker.on('error', (error) => logger.error({ err: error, queue: worker.name }, 'worker error'));
  return worker;
}

/** Makes the recompute schedulers match the live RULE segments. */
async function reconcileSchedules(
  stores: Stores,
  queue: RecomputeQueue,
  recompute: ReturnType<typeof recomputeRequests>,
): Promise<void> {
  const live = await stores.computations.schedules();
  const existing = new Map((await queue.getJobSchedulers(0, -1)).map((s) => [s.key, s.every]));
  const liveIds = new Set(live.map((s) => `segment:${s.id}`));
  for (const { id, refreshEveryMinutes } of live) {
    if (existing.get(`segment:${id}`) !== refreshEveryMinutes * 60_000) await recompute.schedule(id, refreshEveryMinutes);
  }
  for (const key of existing.keys()) {
    const id = /^segment:(\d+)$/.exec(key)?.[1];
    if (id && !liveIds.has(key)) await recompute.unschedule(Number(id));
  }
}

