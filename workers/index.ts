import { Worker, type Job, type Processor } from 'bullmq';
import {
  createMaintenanceQueue,
  MAINTENANCE_QUEUE,
  requestServingStoreRebuild,
  scheduleMembershipRetention,
  scheduleServingStoreCheck,
  scheduleTimeMaintenance,
  type MaintenanceJob,
  type RebuildServingStoreJob,
} from '../src/jobs/maintenance-queue.js';
import { createOrderEventsQueue, ORDER_EVENTS_QUEUE, type OrderCreatedEvent } from '../src/jobs/order-events-queue.js';
import {
  createRecomputeQueue,
  RECOMPUTE_QUEUE,
  recomputeRequests,
  refreshOffsetMs,
  type RecomputeQueue,
  type RecomputeSegmentJob,
} from '../src/jobs/recompute-queue.js';
import type { Logger } from '../src/platform/logger.js';
import { trackQueues } from '../src/platform/metrics/health-gauges.js';
import { measureJobs } from '../src/platform/metrics/job-metrics.js';
import { repeatedErrorLog } from '../src/platform/repeated-error-log.js';
import type { WorkerStores } from '../src/pipeline/worker-stores.js';
import { eraseServingKeys } from '../src/pipeline/erase-serving-keys.js';
import { CustomerEvaluationRepository } from '../src/stores/postgres/customer-evaluation-repository.js';
import { MembershipEventRetention } from '../src/stores/postgres/membership-event-retention.js';
import { ReplicationHeartbeat } from '../src/stores/postgres/replication-heartbeat.js';
import { ServingReconciler, type ServingReconcilerOptions } from '../src/pipeline/serving-reconciler.js';
import { servingDrift, servingReconciled } from '../src/platform/metrics/metrics.js';
import { TimeMaintenanceRepository } from '../src/stores/postgres/time-maintenance-repository.js';
import { ChangeEvaluator, type ChangeEvaluatorOptions } from '../src/pipeline/change-evaluator.js';
import { LiveRuleIndex } from '../src/pipeline/live-rule-index.js';
import { MembershipPublisher } from '../src/pipeline/membership-publisher.js';
import { bullConnection, closeBullConnection } from '../src/stores/redis/bull-connection.js';
import type { RedisTarget } from '../src/stores/redis/client.js';
import { watchBullConnections } from '../src/stores/redis/watch-bull-connections.js';
import { PollingLoop } from '../src/pipeline/polling-loop.js';
import { createMembershipRetentionProcessor } from './membership-retention.processor.js';
import { createOrderEventProcessor } from './order-event.processor.js';
import { createRebuildServingStoreProcessor } from './rebuild-serving-store.processor.js';
import { RecomputeBatcher } from '../src/pipeline/recompute-batcher.js';
import { SegmentOutboxRelay } from '../src/pipeline/segment-outbox-relay.js';
import { createRecomputeProcessor } from './recompute-segment.processor.js';
import { createTimeMaintenanceProcessor } from './time-maintenance.processor.js';
import { UnreachableCaseError } from '../src/platform/unreachable-case-error.js';

export interface WorkerDependencies {
  /** The Redis of the queues, the same as the stores'. */
  redis: RedisTarget;
  stores: WorkerStores;
  logger: Logger;
  /** How long an order.created job waits for its order to become visible. @defaultValue ORDER_VISIBILITY_WAIT_MS */
  orderVisibilityWaitMs?: number;
  /**
   * BullMQ lock duration: a job whose worker died is retried by another after
   * about this long (config WORKER_LOCK_DURATION_MS). @defaultValue 30_000
   */
  lockDurationMs?: number;
  /** Period of the serving-store check. @defaultValue SERVING_STORE_CHECK_EVERY_MS */
  servingStoreCheckEveryMs?: number;
  /** Period of time maintenance. @defaultValue TIME_MAINTENANCE_EVERY_MS */
  timeMaintenanceEveryMs?: number;
  /** Membership events older than this many days are dropped (config MEMBERSHIP_EVENT_RETENTION_DAYS). @defaultValue 180 */
  membershipEventRetentionDays?: number;
  /** Period of membership-event retention. @defaultValue MEMBERSHIP_RETENTION_EVERY_MS */
  membershipRetentionEveryMs?: number;
  /** How often schedulers are reconciled with the live segments (they live in Redis, which can lose them). @defaultValue 60_000 */
  reconcileEveryMs?: number;
  /** Batch sizes of the event path. */
  evaluator?: ChangeEvaluatorOptions;
  /** How many customers the serving-store reconciler compares, how often. */
  reconciler?: ServingReconcilerOptions;
}

export interface RunningWorkers {
  /** Finishes the jobs and the batch in progress (BullMQ hands unfinished jobs to another worker), then disconnects. */
  close(): Promise<void>;
}

// Recompute jobs mostly wait for their round of the batcher, which computes
// up to RECOMPUTE_ROUND_SEGMENTS segments in one pass, two rounds at a time:
// enough jobs in flight to fill both (fewer would split segments created
// together over several passes, each reading every customer's orders again);
// order-events jobs wait a few milliseconds for their batch insert.
const RECOMPUTE_ROUND_SEGMENTS = 1000;
const RECOMPUTE_CONCURRENCY = 2 * RECOMPUTE_ROUND_SEGMENTS;
const ORDER_EVENT_CONCURRENCY = 200;
const DEFAULT_RECONCILE_EVERY_MS = 60_000;
const DEFAULT_MEMBERSHIP_EVENT_RETENTION_DAYS = 180;
const SIZE_FOLD_EVERY_MS = 1000;
// A replica's lag is read from this heartbeat (migration 0016): its period is the resolution.
const HEARTBEAT_EVERY_MS = 1000;

/**
 * Starts the worker process: the change evaluator (event path and time
 * passing), full recomputes, publication of membership events, the relay of
 * admin changes' side effects, and serving-store maintenance.
 */
export async function startWorkers(deps: WorkerDependencies): Promise<RunningWorkers> {
  const { stores, logger } = deps;
  watchBullConnections(logger);
  const connection = bullConnection(deps.redis, 'segments-worker', logger);
  const lockDuration = deps.lockDurationMs ?? 30_000;
  const workerOptions = (queue: string, concurrency: number) => ({
    connection,
    prefix: stores.keys.bullPrefix(queue),
    concurrency,
    lockDuration,
    stalledInterval: lockDuration,
  });

  const maintenanceQueue = createMaintenanceQueue(connection, stores.keys);
  const recomputeQueue = createRecomputeQueue(connection, stores.keys);
  const orderEventsQueue = createOrderEventsQueue(connection, stores.keys);
  const untrackQueues = trackQueues([maintenanceQueue, recomputeQueue, orderEventsQueue]);
  // Every queue and worker reports its connection's errors; while Redis is away they repeat, and are counted.
  const logQueueError = repeatedErrorLog(logger, 'queue error');
  for (const queue of [maintenanceQueue, recomputeQueue, orderEventsQueue]) {
    queue.on('error', (error) => logQueueError(error, { queue: queue.name }));
  }
  const recompute = recomputeRequests(recomputeQueue);
  const publisher = new MembershipPublisher({ pool: stores.pool, servingStore: stores.servingStore, stream: stores.eventStream }, logger);

  const relay = new SegmentOutboxRelay({
    outbox: stores.segmentOutbox,
    segments: stores.segments,
    segmentChanges: stores.segmentChanges,
    recompute,
    eraseServingKeys: (customerIds) => eraseServingKeys(stores, customerIds),
    logger,
  });

  const ruleIndex = new LiveRuleIndex(stores.computations);
  // Sizes the event path wrote as deltas, folded into the segments' rows (readers add what is not folded yet).
  const logFoldError = repeatedErrorLog(logger, 'folding segment sizes failed');
  const sizeFolder = new PollingLoop(
    () => stores.segments.foldSizeDeltas().then(() => undefined, (error: unknown) => logFoldError(error)),
    SIZE_FOLD_EVERY_MS,
  );

  const servingReconciler = new ServingReconciler(
    {
      pool: stores.pool,
      memberships: stores.memberships,
      servingStore: stores.servingStore,
      onRound: (round) => {
        servingReconciled.inc(round.checked);
        servingDrift.inc(round.drifted.length);
      },
      logger,
    },
    deps.reconciler,
  );
  const heartbeat = new ReplicationHeartbeat(stores.pool);
  const logHeartbeatError = repeatedErrorLog(logger, 'writing the replication heartbeat failed');
  const heartbeats = new PollingLoop(() => heartbeat.beat().catch((error: unknown) => logHeartbeatError(error)), HEARTBEAT_EVERY_MS);

  const evaluator = new ChangeEvaluator(
    {
      outbox: stores.changeOutbox,
      evaluations: new CustomerEvaluationRepository(stores.pool),
      ruleIndex,
      onChanged: () => publisher.wake(),
      logger,
    },
    deps.evaluator,
  );
  const batcher = new RecomputeBatcher((ids) => stores.recompute.run(ids), { maxSegments: RECOMPUTE_ROUND_SEGMENTS, concurrency: 2 });
  const rebuild = createRebuildServingStoreProcessor(stores, logger);
  const timeMaintenance = createTimeMaintenanceProcessor({
    computations: stores.computations,
    timeMaintenance: new TimeMaintenanceRepository(stores.pool),
    queued: () => evaluator.wake(),
    logger,
  });
  const pruneMembershipEvents = createMembershipRetentionProcessor({
    retention: new MembershipEventRetention(stores.pool),
    retentionDays: deps.membershipEventRetentionDays ?? DEFAULT_MEMBERSHIP_EVENT_RETENTION_DAYS,
    logger,
  });
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
              return publisher.publish(10_000);
            case 'time-maintenance':
              return timeMaintenance();
            case 'prune-membership-events':
              return pruneMembershipEvents();
            default:
              throw new UnreachableCaseError(name);
          }
        },
        // One at a time: a rebuild writes the whole serving store.
        workerOptions(MAINTENANCE_QUEUE, 1),
      ),
      logger,
    ),
    watch(
      new Worker<RecomputeSegmentJob['data']>(
        RECOMPUTE_QUEUE,
        createRecomputeProcessor({
          request: (id) => batcher.request(id),
          computations: stores.computations,
          segments: stores.segments,
          segmentChanges: stores.segmentChanges,
          recompute,
          published: () => publisher.wake(),
          logger,
        }) as Processor<RecomputeSegmentJob['data']>,
        workerOptions(RECOMPUTE_QUEUE, RECOMPUTE_CONCURRENCY),
      ),
      logger,
    ),
    watch(
      new Worker<OrderCreatedEvent>(
        ORDER_EVENTS_QUEUE,
        createOrderEventProcessor({ outbox: stores.changeOutbox, logger }, { visibilityWaitMs: deps.orderVisibilityWaitMs }) as Processor<OrderCreatedEvent>,
        workerOptions(ORDER_EVENTS_QUEUE, ORDER_EVENT_CONCURRENCY),
      ),
      logger,
    ),
  ];

  evaluator.start();
  sizeFolder.start();
  heartbeats.start();
  servingReconciler.start();
  publisher.start();
  relay.start();

  // Schedulers and the serving-store marker live in Redis, which can lose
  // them while the workers run: put them right now and then periodically.
  const reconcile = async () => {
    await scheduleServingStoreCheck(maintenanceQueue, deps.servingStoreCheckEveryMs);
    await scheduleTimeMaintenance(maintenanceQueue, deps.timeMaintenanceEveryMs);
    await scheduleMembershipRetention(maintenanceQueue, deps.membershipRetentionEveryMs);
    await requestServingStoreRebuild(maintenanceQueue, { onlyIfMissing: true });
    await reconcileSchedules(stores, recomputeQueue, recompute);
  };
  // The periodic publication job of earlier versions: the publisher now runs continuously.
  await maintenanceQueue.removeJobScheduler('membership-publisher');
  await reconcile().catch((error: unknown) => logger.error({ err: error }, 'reconciling schedulers failed'));
  const reconciler = setInterval(
    () => void reconcile().catch((error: unknown) => logger.error({ err: error }, 'reconciling schedulers failed')),
    deps.reconcileEveryMs ?? DEFAULT_RECONCILE_EVERY_MS,
  );
  logger.info({ queues: [MAINTENANCE_QUEUE, RECOMPUTE_QUEUE, ORDER_EVENTS_QUEUE] }, 'workers started');

  return {
    async close() {
      clearInterval(reconciler);
      untrackQueues();
      await Promise.all(workers.map((worker) => worker.close()));
      await relay.stop();
      await evaluator.stop();
      await sizeFolder.stop();
      await heartbeats.stop();
      await servingReconciler.stop();
      await publisher.stop();
      await Promise.all([maintenanceQueue.close(), recomputeQueue.close(), orderEventsQueue.close()]);
      await closeBullConnection(connection);
    },
  };
}

// Any job shape: only names and errors are logged (see measureJobs for why not `unknown`).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function watch<T extends Worker<any, any, any>>(worker: T, logger: Logger): T {
  worker.on('failed', (job, error) =>
    logger.error({ err: error, queue: worker.name, jobId: job?.id, job: job?.name, attempt: job?.attemptsMade }, 'job failed'),
  );
  const logWorkerError = repeatedErrorLog(logger, 'worker error');
  worker.on('error', (error) => logWorkerError(error, { queue: worker.name }));
  return measureJobs(worker);
}

/** Makes the recompute schedulers match the live RULE segments. */
async function reconcileSchedules(stores: Pick<WorkerStores, 'computations'>, queue: RecomputeQueue, recompute: ReturnType<typeof recomputeRequests>): Promise<void> {
  const live = await stores.computations.schedules();
  const existing = new Map((await queue.getJobSchedulers(0, -1)).map((s) => [s.key, s]));
  const liveIds = new Set(live.map((s) => `segment:${s.id}`));
  for (const { id, refreshEveryMinutes, neverComputed } of live) {
    const every = refreshEveryMinutes * 60_000;
    const scheduler = existing.get(`segment:${id}`);
    if (scheduler?.every !== every || scheduler.offset !== refreshOffsetMs(id, every)) {
      await recompute.schedule(id, refreshEveryMinutes);
      // A schedule's first run is at the segment's place in its period: one never computed (written
      // by SQL, or its creation's request lost with Redis) is asked for now.
      if (!scheduler && neverComputed) await recompute.request(id);
    }
  }
  for (const key of existing.keys()) {
    const id = /^segment:(\d+)$/.exec(key)?.[1];
    if (id && !liveIds.has(key)) await recompute.unschedule(Number(id));
  }
}

