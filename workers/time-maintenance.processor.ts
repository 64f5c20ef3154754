import type { Logger } from '../src/platform/logger.js';
import { timeWindows } from '../src/rules/time-windows.js';
import type { SegmentComputationRepository } from '../src/stores/postgres/segment-computation-repository.js';
import type { TimeMaintenanceOutcome, TimeMaintenanceRepository } from '../src/stores/postgres/time-maintenance-repository.js';

/** How long the evaluation journal is kept at least (longer while a recompute that started before is computing). */
export const EVALUATION_JOURNAL_RETENTION_MS = 60 * 60_000;

/**
 * Applies time passing to every segment with relative windows: queues the
 * customers whose orders crossed a window edge since the last run for the
 * evaluator, which evaluates them like any change. Also purges the
 * evaluation journal.
 */
export function createTimeMaintenanceProcessor(deps: {
  computations: Pick<SegmentComputationRepository, 'liveRuleSegments'>;
  timeMaintenance: TimeMaintenanceRepository;
  /** Wakes the evaluator. */
  queued: () => void;
  logger: Logger;
}) {
  return async (): Promise<TimeMaintenanceOutcome & { journalPurged: number }> => {
    const segments = (await deps.computations.liveRuleSegments())
      .map((s) => ({ id: s.id, windows: timeWindows(s.rule) }))
      .filter((s) => s.windows.length > 0);
    const outcome = await deps.timeMaintenance.queueCrossings(segments);
    if (outcome.customers > 0) deps.queued();
    const journalPurged = await deps.timeMaintenance.purgeEvaluationJournal(EVALUATION_JOURNAL_RETENTION_MS);
    deps.logger.debug({ ...outcome, journalPurged }, 'time maintenance');
    return { ...outcome, journalPurged };
  };
}
