import type pg from 'pg';
import { compileMembersQuery } from '../../rules/compile-sql.js';
import type { Rule } from '../../rules/rule.js';
import type { Queryable } from './queryable.js';

export interface RuleSegment {
  id: number;
  rule: Rule;
}

/** A segment as a recompute reads it in its snapshot. */
export interface ComputedSegment extends RuleSegment {
  version: number;
}

/** What a recompute's apply checks before writing: the segment row, locked. */
export interface SegmentComputeState {
  version: number;
  status: string;
  computingSince: Date | null;
  lastComputedAt: Date | null;
}

/**
 * The SQL of full recomputes: the computing mark, the rules in a snapshot, the
 * temporary table of changes (`recompute_target`), the range applies and the
 * final size. The order in which they run, the snapshot and the locks are the
 * recompute protocol's (src/pipeline/segment-recompute.ts).
 */
export class SegmentComputationRepository {
  constructor(private readonly pool: pg.Pool) {}

  /** Marks a live RULE segment computing: from then on the event path journals its evaluations of it. */
  async markComputing(db: Queryable, segmentId: number): Promise<void> {
    await db.query(`UPDATE segments SET computing_since = clock_timestamp() WHERE id = $1 AND kind = 'RULE' AND status = 'ACTIVE'`, [segmentId]);
  }

  /** The database's clock now: a recompute's time of computation. */
  async clock(db: Queryable): Promise<Date> {
    return (await db.query<{ now: Date }>('SELECT clock_timestamp() AS now')).rows[0]!.now;
  }

  /** The live RULE segments among `segmentIds`, with their rules and versions, by id. */
  async ruleSegments(db: Queryable, segmentIds: readonly number[]): Promise<ComputedSegment[]> {
    const { rows } = await db.query<ComputedSegment>(
      `SELECT id, rule, version FROM segments WHERE id = ANY($1::int[]) AND kind = 'RULE' AND status = 'ACTIVE' ORDER BY id`,
      [segmentIds],
    );
    return rows;
  }

  /** A fresh `recompute_target (segment_id, customer_id, member)` on this connection. */
  async createTarget(db: Queryable): Promise<void> {
    await db.query('DROP TABLE IF EXISTS recompute_target');
    await db.query('CREATE TEMP TABLE recompute_target (segment_id int NOT NULL, customer_id text NOT NULL, member boolean NOT NULL, PRIMARY KEY (segment_id, customer_id))');
  }

  async dropTarget(db: Queryable): Promise<void> {
    await db.query('DROP TABLE IF EXISTS recompute_target');
  }

  async analyzeTarget(db: Queryable): Promise<void> {
    await db.query('ANALYZE recompute_target');
  }

  /** Planner statistics of memberships, after a bulk change made them stale at once. */
  async analyzeMemberships(db: Queryable): Promise<void> {
    await db.query('ANALYZE segment_memberships');
  }

  /**
   * One segment's changes by its rule's set-based SQL, compared with its
   * memberships (close to the bare SQL of the rule). Returns their number.
   */
  async fillTargetByRule(db: Queryable, segment: RuleSegment, asOf: Date): Promise<number> {
    const members = compileMembersQuery(segment.rule, { asOf });
    const { rowCount } = await db.query(
      `INSERT INTO recompute_target
       SELECT ${segment.id}::int, coalesce(t.customer_id, m.customer_id), t.customer_id IS NOT NULL
         FROM (${members.text}) t
         FULL JOIN (SELECT customer_id FROM segment_memberships WHERE segment_id = ${segment.id}::int) m ON m.customer_id = t.customer_id
        WHERE t.customer_id IS NULL OR m.customer_id IS NULL`,
      members.values,
    );
    return rowCount ?? 0;
  }

  /** The customer that ends a range of `size` changes of the segment after `after`; null when fewer are left. */
  async rangeEnd(db: Queryable, segmentId: number, after: string, size: number): Promise<string | null> {
    const { rows } = await db.query<{ upTo: string }>(
      `SELECT customer_id AS "upTo" FROM recompute_target WHERE segment_id = $1 AND customer_id > $2 ORDER BY customer_id OFFSET $3 LIMIT 1`,
      [segmentId, after, size - 1],
    );
    return rows[0]?.upTo ?? null;
  }

  /** The segment's row, locked for the apply (`FOR NO KEY UPDATE`); undefined when it is gone. */
  async lockForApply(db: Queryable, segmentId: number): Promise<SegmentComputeState | undefined> {
    const { rows } = await db.query<SegmentComputeState>(
      `SELECT version, status, computing_since AS "computingSince", last_computed_at AS "lastComputedAt" FROM segments WHERE id = $1 FOR NO KEY UPDATE`,
      [segmentId],
    );
    return rows[0];
  }

  async clearComputingMark(db: Queryable, segmentId: number): Promise<void> {
    await db.query('UPDATE segments SET computing_since = NULL WHERE id = $1', [segmentId]);
  }

  /**
   * Writes the changes of customers in (after, upTo] (upTo null: to the end)
   * as memberships and events, except for customers the event path journaled
   * as evaluated after `asOf` for the same version, who keep their newer
   * answer. Runs while no other writer of the segment's memberships can.
   */
  async applyRange(
    db: Queryable,
    segment: { id: number; version: number },
    asOf: Date,
    after: string,
    upTo: string | null,
  ): Promise<{ entered: number; left: number; keptNewer: number }> {
    // Two plain bounds (not `$5 IS NULL OR ...`), so each range is an index range scan.
    const inRange = (column: string) => (upTo === null ? `${column} > $4` : `${column} > $4 AND ${column} <= $5`);
    const { rows: changes } = await db.query<{ entered: number; left: number; keptNewer: number }>(
      `WITH newer AS MATERIALIZED (
         SELECT DISTINCT customer_id FROM segment_evaluations, unnest(customer_ids) AS customer_id
          WHERE segment_id = $1 AND version = $3 AND evaluated_at > $2 AND ${inRange('customer_id')}
       ), wanted AS MATERIALIZED (
         SELECT c.customer_id, c.member FROM recompute_target c
          WHERE c.segment_id = $1 AND ${inRange('c.customer_id')}
            AND NOT EXISTS (SELECT 1 FROM newer n WHERE n.customer_id = c.customer_id)
       ), entered AS (
         -- No other writer of this RULE segment's memberships runs (the evaluation lock is held
         -- exclusively), so a plain probe suffices where ON CONFLICT's speculative insertion
         -- costs about twice as much per row; a writer that broke this would fail the range.
         INSERT INTO segment_memberships (segment_id, customer_id, since)
         SELECT $1::int, w.customer_id, $2::timestamptz FROM wanted w
          WHERE w.member AND NOT EXISTS (SELECT 1 FROM segment_memberships m WHERE m.segment_id = $1 AND m.customer_id = w.customer_id)
         RETURNING customer_id
       ), departed AS (
         DELETE FROM segment_memberships m USING wanted w
          WHERE m.segment_id = $1 AND m.customer_id = w.customer_id AND NOT w.member
         RETURNING m.customer_id
       ), recorded AS (
         INSERT INTO segment_membership_events (segment_id, customer_id, change, at, cause, segment_version)
         SELECT $1::int, customer_id, 'ENTERED', $2::timestamptz, 'schedule', $3::int FROM entered
         UNION ALL
         SELECT $1::int, customer_id, 'LEFT', $2::timestamptz, 'schedule', $3::int FROM departed
       )
       SELECT (SELECT count(*)::int FROM entered) AS entered, (SELECT count(*)::int FROM departed) AS left,
              (SELECT count(*)::int FROM newer) AS "keptNewer"`,
      upTo === null ? [segment.id, asOf, segment.version, after] : [segment.id, asOf, segment.version, after, upTo],
    );
    return changes[0]!;
  }

  /**
   * Completes a recompute: the size counted (every committed evaluation's
   * pending delta is in the count, so the deltas go), the computation's time
   * recorded, the mark and any quarantine cleared. Returns the size.
   */
  async completeApply(db: Queryable, segmentId: number, asOf: Date): Promise<number> {
    await db.query('DELETE FROM segment_size_deltas WHERE segment_id = $1', [segmentId]);
    const { rows } = await db.query<{ size: number }>(
      `UPDATE segments SET size = (SELECT count(*) FROM segment_memberships WHERE segment_id = $1),
              last_computed_at = $2, time_evaluated_at = $2, computing_since = NULL, quarantined_at = NULL, compute_error = NULL
        WHERE id = $1 RETURNING size`,
      [segmentId, asOf],
    );
    return rows[0]!.size;
  }

  /** Moves the segment's size by a range's net change. Returns the size. */
  async addToSize(db: Queryable, segmentId: number, delta: number): Promise<number> {
    const { rows } = await db.query<{ size: number }>('UPDATE segments SET size = size + $2 WHERE id = $1 RETURNING size', [segmentId, delta]);
    return rows[0]!.size;
  }

  /** Records that a segment's rule failed at run time: it is quarantined until a recompute succeeds. */
  async recordFailure(segmentId: number, message: string): Promise<void> {
    await this.pool.query(
      'UPDATE segments SET computing_since = NULL, quarantined_at = coalesce(quarantined_at, now()), compute_error = $2 WHERE id = $1',
      [segmentId, message],
    );
  }

  /** Live RULE segments with their rules (all of them, or those among `ids`), for the workers' rule index. */
  async liveRuleSegments(ids?: readonly number[]): Promise<RuleSegment[]> {
    const { rows } = await this.pool.query<RuleSegment>(
      `SELECT id, rule FROM segments
        WHERE kind = 'RULE' AND status = 'ACTIVE' AND ($1::int[] IS NULL OR id = ANY($1::int[]))
        ORDER BY id`,
      [ids ?? null],
    );
    return rows;
  }

  /** Live RULE segments with their refresh periods, to reconcile job schedulers. */
  async schedules(): Promise<Array<{ id: number; refreshEveryMinutes: number; neverComputed: boolean }>> {
    const { rows } = await this.pool.query<{ id: number; refreshEveryMinutes: number; neverComputed: boolean }>(
      `SELECT id, refresh_every_minutes AS "refreshEveryMinutes", last_computed_at IS NULL AS "neverComputed"
         FROM segments WHERE kind = 'RULE' AND status = 'ACTIVE' ORDER BY id`,
    );
    return rows;
  }
}
