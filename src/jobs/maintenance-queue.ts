import { Queue, type ConnectionOptions } from 'bullmq';
import type { BullPrefixes } from './bull-prefixes.js';

/**
 * The `maintenance` queue: jobs that keep the serving store whole. Producers
 * (the API, CLIs, the worker itself) and the worker share these names and
 * payload types.
 */
export const MAINTENANCE_QUEUE = 'maintenance';

/** Rewrites every Redis serving key from `segment_memberships`. */
export interface RebuildServingStoreJob {
  name: 'rebuild-serving-store';
  data: {
    /** Skip the rebuild when the serving store is marked built (the periodic check). */
    onlyIfMissing: boolean;
  };
}

/** Publishes pending membership events to the serving keys and the stream. */
export interface PublishMembershipEventsJob {
  name: 'publish-membership-events';
  data: Record<string, never>;
}

/** Applies time passing to segments with relative windows (see TimeMaintenanceRepository). */
export interface TimeMaintenanceJob {
  name: 'time-maintenance';
  data: Record<string, never>;
}

/** Drops membership events older than the retention (see MembershipEventRetention). */
export interface PruneMembershipEventsJob {
  name: 'prune-membership-events';
  data: Record<string, never>;
}

export type MaintenanceJob = RebuildServingStoreJob | PublishMembershipEventsJob | TimeMaintenanceJob | PruneMembershipEventsJob;

/**
 * How often time maintenance runs: how long after a window edge passes a
 * membership it changes is updated. Each run costs in proportion to the
 * orders that crossed an edge since the last one, not to the history.
 */
export const TIME_MAINTENANCE_EVERY_MS = 60_000;

/**
 * How often membership-event retention runs. Each run deletes at most a
 * bounded number of batches (so that it never holds up the other maintenance
 * jobs for long) and the next one carries on; what a run finds to delete is
 * what aged past the retention since the previous one.
 */
export const MEMBERSHIP_RETENTION_EVERY_MS = 5 * 60_000;

/**
 * How often the worker checks that Redis still holds the serving keys and
 * rebuilds them if not (Redis restarted without persistence, keys flushed).
 */
export const SERVING_STORE_CHECK_EVERY_MS = 60_000;

// Retried with backoff: a rebuild that failed half-way is safe to run again.
const DEFAULT_JOB_OPTIONS = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { count: 100 },
  removeOnFail: { count: 1000 },
} as const;

// Job names stay `string` here because BullMQ types scheduler ids with the same parameter.
export type MaintenanceQueue = Queue<MaintenanceJob['data']>;

export function createMaintenanceQueue(connection: ConnectionOptions, keys: BullPrefixes): MaintenanceQueue {
  return new Queue(MAINTENANCE_QUEUE, { connection, prefix: keys.bullPrefix(MAINTENANCE_QUEUE), defaultJobOptions: DEFAULT_JOB_OPTIONS });
}

/**
 * Asks for a rebuild of the serving store. Requests made while one of the same
 * kind is waiting or running collapse into it; a forced rebuild is never
 * swallowed by a pending check.
 */
export async function requestServingStoreRebuild(queue: MaintenanceQueue, data: RebuildServingStoreJob['data']) {
  const id = `rebuild-serving-store:${data.onlyIfMissing ? 'if-missing' : 'forced'}`;
  return queue.add('rebuild-serving-store', data, { deduplication: { id } });
}

/** Installs (or updates) the periodic serving-store check; idempotent. */
export async function scheduleServingStoreCheck(queue: MaintenanceQueue, everyMs = SERVING_STORE_CHECK_EVERY_MS) {
  await queue.upsertJobScheduler(
    'serving-store-check',
    { every: everyMs },
    { name: 'rebuild-serving-store', data: { onlyIfMissing: true } },
  );
}

/** Asks for pending membership events to be published now; requests collapse while one waits. */
export async function requestMembershipPublish(queue: MaintenanceQueue) {
  await queue.add('publish-membership-events', {}, { deduplication: { id: 'publish-membership-events' }, removeOnComplete: true });
}

/** Installs the periodic time maintenance; idempotent. */
export async function scheduleTimeMaintenance(queue: MaintenanceQueue, everyMs = TIME_MAINTENANCE_EVERY_MS) {
  await queue.upsertJobScheduler('time-maintenance', { every: everyMs }, { name: 'time-maintenance', data: {}, opts: { removeOnComplete: { count: 100 } } });
}

/** Installs the periodic membership-event retention; idempotent. */
export async function scheduleMembershipRetention(queue: MaintenanceQueue, everyMs = MEMBERSHIP_RETENTION_EVERY_MS) {
  await queue.upsertJobScheduler(
    'membership-retention',
    { every: everyMs },
    { name: 'prune-membership-events', data: {}, opts: { removeOnComplete: { count: 100 } } },
  );
}
