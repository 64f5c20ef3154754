import { UnrecoverableError, type Job } from 'bullmq';
import type { RecomputeRequests, RecomputeSegmentJob } from '../src/jobs/recompute-queue.js';
import type { Logger } from '../src/platform/logger.js';
import { recomputeDuration } from '../src/platform/metrics/metrics.js';
import type { RecomputeResult } from '../src/pipeline/segment-recompute.js';
import type { SegmentComputationRepository } from '../src/stores/postgres/segment-computation-repository.js';
import type { SegmentRepository } from '../src/stores/postgres/segment-repository.js';
import type { SegmentChangeChannel } from '../src/stores/redis/segment-change-channel.js';

export interface RecomputeProcessorDependencies {
  /** Computes the segment, together with others requested at the same time. */
  request(segmentId: number): Promise<RecomputeResult>;
  computations: Pick<SegmentComputationRepository, 'recordFailure'>;
  segments: Pick<SegmentRepository, 'liveDependents'>;
  segmentChanges: Pick<SegmentChangeChannel, 'publish'>;
  recompute: Pick<RecomputeRequests, 'request'>;
  /** Publication of the changes, right away. */
  published: () => void;
  logger: Logger;
}

/**
 * A full recompute: computes and applies the segment's membership in
 * Postgres (see SegmentRecompute), has the changes published,
 * and, when members changed, asks for the segments that read this one to be
 * recomputed after it. A rule that fails at run time quarantines the segment
 * and fails the job without retries: only a rule change can mend it.
 */
export function createRecomputeProcessor(deps: RecomputeProcessorDependencies) {
  return async (job: Job<RecomputeSegmentJob['data']>): Promise<RecomputeResult> => {
    const { segmentId } = job.data;
    const endTimer = recomputeDuration.startTimer();
    const result = await deps.request(segmentId).finally(() => endTimer());
    if ('failed' in result) {
      const message = `The rule could not be evaluated and the segment is paused until it is changed or recomputed: ${result.failed}`;
      await deps.computations.recordFailure(segmentId, message);
      await deps.segmentChanges.publish([segmentId], 'size');
      deps.logger.error({ segmentId, code: result.code, error: result.failed }, 'segment quarantined: its rule fails at run time');
      throw new UnrecoverableError(message);
    }
    if ('skipped' in result) return result;
    // Size and lastComputedAt changed: every process drops its cached copy.
    await deps.segmentChanges.publish([segmentId], 'size');
    deps.published();
    if (result.entered + result.left > 0) {
      for (const dependent of await deps.segments.liveDependents(segmentId)) await deps.recompute.request(dependent);
    }
    deps.logger.info({ segmentId, ...result }, 'segment recomputed');
    return result;
  };
}
