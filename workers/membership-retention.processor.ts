import type { Logger } from '../src/platform/logger.js';
import type { MembershipEventPruneOutcome, MembershipEventRetention } from '../src/stores/postgres/membership-event-retention.js';

const DAY_MS = 86_400_000;

/**
 * Drops membership events older than the retention, batch by batch (see
 * MembershipEventRetention). A run stops after `maxBatches`; the next
 * scheduled run carries on where it stopped.
 */
export function createMembershipRetentionProcessor(deps: {
  retention: Pick<MembershipEventRetention, 'prune'>;
  /** config MEMBERSHIP_EVENT_RETENTION_DAYS */
  retentionDays: number;
  logger: Logger;
  batchSize?: number;
  maxBatches?: number;
}) {
  return async (): Promise<MembershipEventPruneOutcome> => {
    const outcome = await deps.retention.prune({
      retentionMs: deps.retentionDays * DAY_MS,
      ...(deps.batchSize !== undefined ? { batchSize: deps.batchSize } : {}),
      ...(deps.maxBatches !== undefined ? { maxBatches: deps.maxBatches } : {}),
    });
    if (outcome.deleted > 0 || !outcome.done) deps.logger.info({ ...outcome }, 'membership events pruned');
    return outcome;
  };
}
