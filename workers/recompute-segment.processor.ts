import type { Job } from 'bullmq';
import type { RecomputeRequests, RecomputeSegmentJob } from '../src/jobs/recompute-queue.js';
import type { Logger } from '../src/logger.js';
import type { Stores } from '../src/stores/create-stores.js';
import type { RecomputeOutcome } from '../src/stores/postgres/segment-computation-repository.js';
import { INLINE_LOCK_WAIT_MS, type PublishOutcome } from './publish-membership-events.processor.js';

export type RecomputeResult = RecomputeOutcome | { skipped: 'not a live RULE segment' };

/**
 * A full recompute: computes and applies the segment's membership in
 * Postgres (one transaction), publishes the changes to Redis and the stream,
 * and, when members changed, asks for the segments that read this one to be
 * recomputed after it.
 */
export function createRecomputeProcessor(
  stores: Stores,
  recompute: RecomputeRequests,
  publish: (lockWaitMs: number) => Promise<PublishOutcome>,
  logger: Logger,
) {
  return async (job: Job<RecomputeSegmentJob['data']>): Promise<RecomputeResult> => {
    const { segmentId } = job.data;
    const started = Date.now();
    const outcome = await stores.computations.recompute(segmentId, new Date());
    if (!outcome) return { skipped: 'not a live RULE segment' };
    // Size and lastComputedAt changed: every process drops its cached copy.
    await stores.segmentChanges.publish([segmentId], 'size');
    await publish(INLINE_LOCK_WAIT_MS);
    if (outcome.entered + outcome.left > 0) {
      for (const dependent of await stores.segments.liveDependents(segmentId)) await recompute.request(dependent);
    }
    logger.info({ segmentId, ...outcome, ms: Date.now() - started }, 'segment recomputed');
    return outcome;
  };
}
