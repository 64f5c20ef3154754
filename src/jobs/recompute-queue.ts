import { Queue, type ConnectionOptions } from 'bullmq';
import type { BullPrefixes } from './bull-prefixes.js';

/**
 * The `segment-recompute` queue: full recomputes of RULE segments, asked for
 * by the admin API and by per-segment job schedulers. The payload carries the
 * segment id only; the worker reads the current rule and version itself, so a
 * job never acts on a stale definition.
 */
export const RECOMPUTE_QUEUE = 'segment-recompute';

export interface RecomputeSegmentJob {
  name: 'recompute-segment';
  data: { segmentId: number };
}

export type RecomputeQueue = Queue<RecomputeSegmentJob['data']>;

/**
 * Default period of a RULE segment's full recompute, in minutes. Order and
 * customer changes and time maintenance keep memberships exact in between:
 * the full recompute is a daily safety net.
 */
export const DEFAULT_REFRESH_EVERY_MINUTES = 1440;

const DEFAULT_JOB_OPTIONS = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 2000 },
  removeOnComplete: { count: 1000 },
  removeOnFail: { count: 5000 },
} as const;

export function createRecomputeQueue(connection: ConnectionOptions, keys: BullPrefixes): RecomputeQueue {
  return new Queue(RECOMPUTE_QUEUE, { connection, prefix: keys.bullPrefix(RECOMPUTE_QUEUE), defaultJobOptions: DEFAULT_JOB_OPTIONS });
}

/** What the admin API needs from the recompute queue; injected so tests and other entry points can choose. */
export interface RecomputeRequests {
  /**
   * Asks for a recompute now. Requests made while one is waiting collapse into
   * it; one made while it runs runs again afterwards (it may carry a change
   * the running one did not see).
   */
  request(segmentId: number): Promise<void>;
  /** Installs or updates the segment's periodic recompute, at its place in the period (refreshOffsetMs). */
  schedule(segmentId: number, everyMinutes: number): Promise<void>;
  /** Removes the segment's periodic recompute. */
  unschedule(segmentId: number): Promise<void>;
}

const schedulerId = (segmentId: number) => `segment:${segmentId}`;

/**
 * Where in its period a segment's safety-net recompute runs, in ms after the
 * period's start. Segments created together would otherwise all be recomputed
 * at the same moment every period (BullMQ starts an `every` schedule when it
 * is installed), and a full recompute of many segments at once holds the event
 * path back; consecutive ids spread evenly over the period (golden-ratio
 * sequence). Never 0: BullMQ takes 0 as "no offset" and runs a job at once,
 * while creating a segment already asks for its first computation.
 */
export function refreshOffsetMs(segmentId: number, everyMs: number): number {
  const fraction = (segmentId * 0.6180339887498949) % 1;
  return Math.max(1, Math.floor(fraction * everyMs));
}

export function recomputeRequests(queue: RecomputeQueue): RecomputeRequests {
  return {
    async request(segmentId) {
      await queue.add('recompute-segment', { segmentId }, { deduplication: { id: `recompute:${segmentId}`, keepLastIfActive: true } });
    },
    async schedule(segmentId, everyMinutes) {
      const every = everyMinutes * 60_000;
      // Started afresh: BullMQ keeps an existing schedule's next run when only its offset changes.
      await queue.removeJobScheduler(schedulerId(segmentId));
      await queue.upsertJobScheduler(
        schedulerId(segmentId),
        { every, offset: refreshOffsetMs(segmentId, every) },
        { name: 'recompute-segment', data: { segmentId } },
      );
    },
    async unschedule(segmentId) {
      await queue.removeJobScheduler(schedulerId(segmentId));
    },
  };
}
