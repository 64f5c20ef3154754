import type pg from 'pg';
import { compileMembersQuery, compileMembershipMatrix } from '../../rules/compile-sql.js';
import type { Rule } from '../../rules/rule.js';
import { inTransaction } from './queryable.js';

export type MembershipCause = 'schedule' | 'event' | 'manual';

export interface RecomputeOutcome {
  version: number;
  size: number;
  entered: number;
  left: number;
}

export interface CustomerEvaluation {
  entered: number[];
  left: number[];
}

export interface RuleSegment {
  id: number;
  rule: Rule;
}

/**
 * Computes memberships from rules inside Postgres and records every change as
 * an event in the same transaction. Nothing proportional to a segment's size
 * ever leaves the database.
 */
export class SegmentComputationRepository {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * Recomputes one RULE segment in full: the compiled rule fills a temporary
   * table, and the differences with the current members are applied and
   * recorded as events, all in one transaction that holds the segment's row
   * lock. The rule is read under that lock, so a result always belongs to the
   * current version, and a crash or a retry leaves exactly what a clean run
   * leaves. Returns null when the segment is missing, STATIC or archived.
   */
  async recompute(segmentId: number, asOf: Date): Promise<RecomputeOutcome | null> {
    return inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<{ rule: Rule | null; version: number; kind: string; status: string }>(
        'SELECT rule, version, kind, status FROM segments WHERE id = $1 FOR UPDATE',
        [segmentId],
      );
      const segment = rows[0];
      if (!segment || segment.kind !== 'RULE' || segment.status !== 'ACTIVE' || !segment.rule) return null;

      const members = compileMembersQuery(segment.rule, { asOf });
      await client.query('CREATE TEMP TABLE recompute_target (customer_id text PRIMARY KEY) ON COMMIT DROP');
      await client.query(`INSERT INTO recompute_target ${members.text}`, members.values);
      await client.query('ANALYZE recompute_target');
      const { rows: changes } = await client.query<{ entered: number; left: number; size: number }>(
        `WITH entered AS (
           INSERT INTO segment_memberships (segment_id, customer_id, since)
           SELECT $1::int, t.customer_id, $2::timestamptz FROM recompute_target t
            WHERE NOT EXISTS (SELECT 1 FROM segment_memberships m WHERE m.segment_id = $1 AND m.customer_id = t.customer_id)
           RETURNING customer_id
         ), departed AS (
           DELETE FROM segment_memberships m
            WHERE m.segment_id = $1 AND NOT EXISTS (SELECT 1 FROM recompute_target t WHERE t.customer_id = m.customer_id)
           RETURNING customer_id
         ), recorded AS (
           INSERT INTO segment_membership_events (segment_id, customer_id, change, at, cause, segment_version)
           SELECT $1::int, customer_id, 'ENTERED', $2::timestamptz, 'schedule', $3::int FROM entered
           UNION ALL
           SELECT $1::int, customer_id, 'LEFT', $2::timestamptz, 'schedule', $3::int FROM departed
         )
         SELECT (SELECT count(*)::int FROM entered) AS entered, (SELECT count(*)::int FROM departed) AS left,
                (SELECT count(*)::int FROM recompute_target) AS size`,
        [segmentId, asOf, segment.version],
      );
      const outcome = changes[0]!;
      await client.query('UPDATE segments SET size = $2, last_computed_at = $3 WHERE id = $1', [segmentId, outcome.size, asOf]);
      return { version: segment.version, ...outcome };
    });
  }

  /**
   * The event path: evaluates one customer against the given RULE segments in
   * one statement (compileMembershipMatrix) and applies and records the
   * differences. The segments' rows are locked in id order for the
   * transaction, so a concurrent full recompute of one of them waits or is
   * waited for, and never undoes this result.
   */
  async evaluateCustomer(customerId: string, segmentIds: readonly number[], asOf: Date): Promise<CustomerEvaluation> {
    if (segmentIds.length === 0) return { entered: [], left: [] };
    return inTransaction(this.pool, async (client) => {
      const { rows: segments } = await client.query<{ id: number; rule: Rule; version: number }>(
        `SELECT id, rule, version FROM segments
          WHERE id = ANY($1::int[]) AND kind = 'RULE' AND status = 'ACTIVE'
          ORDER BY id FOR NO KEY UPDATE`,
        [segmentIds],
      );
      if (segments.length === 0) return { entered: [], left: [] };
      const matrix = compileMembershipMatrix(
        segments.map((s) => s.rule),
        { asOf, customerIds: [customerId] },
      );
      const { rows: evaluated } = await client.query<Record<string, boolean>>(matrix);
      const { rows: current } = await client.query<{ segmentId: number }>(
        'SELECT segment_id AS "segmentId" FROM segment_memberships WHERE customer_id = $1 AND segment_id = ANY($2::int[])',
        [customerId, segments.map((s) => s.id)],
      );
      const isMember = new Set(current.map((r) => r.segmentId));
      const row = evaluated[0]; // absent when the customer is not in `customers`: a member of nothing
      const entered = segments.filter((s, i) => row?.[`m${i}`] === true && !isMember.has(s.id));
      const left = segments.filter((s, i) => row?.[`m${i}`] !== true && isMember.has(s.id));
      if (entered.length + left.length === 0) return { entered: [], left: [] };

      await client.query(
        `WITH entered AS (
           INSERT INTO segment_memberships (segment_id, customer_id, since)
           SELECT unnest($2::int[]), $1::text, $4::timestamptz RETURNING segment_id
         ), departed AS (
           DELETE FROM segment_memberships WHERE customer_id = $1::text AND segment_id = ANY($3::int[]) RETURNING segment_id
         ), versions AS (
           SELECT * FROM unnest($5::int[], $6::int[]) AS v (segment_id, version)
         ), recorded AS (
           INSERT INTO segment_membership_events (segment_id, customer_id, change, at, cause, segment_version)
           SELECT e.segment_id, $1::text, 'ENTERED', $4::timestamptz, 'event', v.version FROM entered e JOIN versions v USING (segment_id)
           UNION ALL
           SELECT d.segment_id, $1::text, 'LEFT', $4::timestamptz, 'event', v.version FROM departed d JOIN versions v USING (segment_id)
         )
         UPDATE segments s SET size = s.size + d.delta
           FROM (SELECT segment_id, 1 AS delta FROM entered UNION ALL SELECT segment_id, -1 FROM departed) d
          WHERE s.id = d.segment_id`,
        [
          customerId,
          entered.map((s) => s.id),
          left.map((s) => s.id),
          asOf,
          segments.map((s) => s.id),
          segments.map((s) => s.version),
        ],
      );
      return { entered: entered.map((s) => s.id), left: left.map((s) => s.id) };
    });
  }

  /** The stores a customer has ordered from: the only stores whose segments an order of theirs can change. */
  async customerStores(customerId: string): Promise<string[]> {
    const { rows } = await this.pool.query<{ storeId: string }>(
      'SELECT DISTINCT store_id AS "storeId" FROM orders WHERE customer_id = $1',
      [customerId],
    );
    return rows.map((r) => r.storeId);
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
  async schedules(): Promise<Array<{ id: number; refreshEveryMinutes: number }>> {
    const { rows } = await this.pool.query<{ id: number; refreshEveryMinutes: number }>(
      `SELECT id, refresh_every_minutes AS "refreshEveryMinutes" FROM segments WHERE kind = 'RULE' AND status = 'ACTIVE' ORDER BY id`,
    );
    return rows;
  }
}
