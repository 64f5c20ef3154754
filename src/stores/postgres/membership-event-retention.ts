import type pg from 'pg';
import { inTransaction } from './queryable.js';

export interface MembershipEventPruning {
  /** Events that happened longer ago than this are dropped, in ms (config MEMBERSHIP_EVENT_RETENTION_DAYS). */
  retentionMs: number;
  /** Events looked at per statement. @defaultValue 10_000 */
  batchSize?: number;
  /** Statements per call: a call stops after these and the next one carries on. @defaultValue 20 */
  maxBatches?: number;
}

export interface MembershipEventPruneOutcome {
  deleted: number;
  /** Events looked at and passed for good: kept as the latest of their membership, or deleted. */
  scanned: number;
  batches: number;
  /** False when `maxBatches` stopped the call before it reached the retention horizon. */
  done: boolean;
  /** Events that happened before this were considered; null when another call was running. */
  cutoff: Date | null;
}

// One batch: the next `$3` events in id order after the position `$1` (a
// range of the primary key), cut at the first one that is too young or not
// published yet (the next call starts there again). Of that prefix it
// deletes every event a newer event of the same membership supersedes, and
// the older events of the same memberships
// that earlier calls kept below the position as the latest of their
// membership and that have been superseded since. Both look a membership up
// in the customer index (customer_id, at, id) INCLUDE (segment_id): a range of
// the customer's entries, filtered in the index (migration 0014).
const PRUNE_BATCH_SQL = `
  WITH batch AS (
    SELECT e.id, e.segment_id, e.customer_id,
           (e.at < $2 AND NOT EXISTS (SELECT 1 FROM membership_event_outbox u WHERE u.event_id = e.id)) AS old
      FROM segment_membership_events e WHERE e.id > $1 ORDER BY e.id LIMIT $3
  ), prefix AS (
    SELECT * FROM batch WHERE id < coalesce((SELECT min(id) FROM batch WHERE NOT old), 9223372036854775807)
  ), doomed AS (
    SELECT p.id FROM prefix p
     WHERE EXISTS (SELECT 1 FROM segment_membership_events n
                    WHERE n.segment_id = p.segment_id AND n.customer_id = p.customer_id AND n.id > p.id)
    UNION
    -- OFFSET 0 keeps this a probe of the customer index per event: joined
    -- freely, the planner may scan every id up to the position instead.
    SELECT o.id FROM prefix p CROSS JOIN LATERAL (
      SELECT o.id FROM segment_membership_events o
       WHERE o.segment_id = p.segment_id AND o.customer_id = p.customer_id AND o.id <= $1
         AND o.at < $2 AND NOT EXISTS (SELECT 1 FROM membership_event_outbox u WHERE u.event_id = o.id)
      OFFSET 0) o
  ), deleted AS (
    DELETE FROM segment_membership_events WHERE id IN (SELECT id FROM doomed) RETURNING 1
  )
  SELECT (SELECT count(*) FROM batch)::int AS "batchRows", (SELECT count(*) FROM prefix)::int AS "prefixRows",
         (SELECT max(id) FROM prefix)::text AS "prefixEnd", (SELECT count(*) FROM deleted)::int AS deleted`;

/**
 * Retention of membership history (docs/pipeline.md "Retention"): drops events that
 * happened longer ago than the retention, except the latest event of each
 * membership (so that when a customer entered or left stays known) and
 * events not published yet (the outbox of the serving store). Walks the
 * table in id order from where the previous call stopped
 * (`membership_event_retention.scanned_up_to`), one bounded statement per
 * batch, each in its own short transaction, so that it never holds locks or
 * a snapshot for long and never rescans what it kept. A single call runs at
 * a time; another one returns at once.
 */
export class MembershipEventRetention {
  constructor(private readonly pool: pg.Pool) {}

  async prune(options: MembershipEventPruning): Promise<MembershipEventPruneOutcome> {
    const batchSize = options.batchSize ?? 10_000;
    const maxBatches = options.maxBatches ?? 20;
    const outcome: MembershipEventPruneOutcome = { deleted: 0, scanned: 0, batches: 0, done: false, cutoff: null };
    const { rows } = await this.pool.query<{ cutoff: Date }>(
      'SELECT now() - make_interval(secs => $1::double precision / 1000) AS cutoff',
      [options.retentionMs],
    );
    const cutoff = rows[0]!.cutoff;
    while (outcome.batches < maxBatches) {
      const step = await inTransaction(this.pool, async (client) => {
        const { rows: state } = await client.query<{ position: string }>(
          'SELECT scanned_up_to::text AS position FROM membership_event_retention FOR UPDATE SKIP LOCKED',
        );
        if (state.length === 0) return 'busy' as const;
        const { rows: result } = await client.query<{ batchRows: number; prefixRows: number; prefixEnd: string | null; deleted: number }>(
          PRUNE_BATCH_SQL,
          [state[0]!.position, cutoff, batchSize],
        );
        const batch = result[0]!;
        if (batch.prefixEnd !== null) {
          await client.query(
            `UPDATE membership_event_retention SET scanned_up_to = $1,
                    pruned_before = CASE WHEN $3::int > 0 THEN greatest(pruned_before, $2) ELSE pruned_before END`,
            [batch.prefixEnd, cutoff, batch.deleted],
          );
        }
        return batch;
      });
      if (step === 'busy') return outcome;
      outcome.cutoff = cutoff;
      outcome.batches++;
      outcome.deleted += step.deleted;
      outcome.scanned += step.prefixRows;
      // A short batch reached the end of the table; a short prefix, an event to keep for now.
      if (step.batchRows < batchSize || step.prefixRows < step.batchRows) {
        outcome.done = true;
        break;
      }
    }
    return outcome;
  }
}
