import type pg from 'pg';
import { compileMembershipMatrix } from '../../rules/compile-sql.js';
import type { Rule } from '../../rules/rule.js';
import { inClientTransaction, type Queryable } from './queryable.js';
import { lockSegmentRows } from './segment-repository.js';

/** A live RULE segment as the event path evaluates it. */
export interface EvaluatedSegment {
  id: number;
  version: number;
  rule: Rule;
  /** A full recompute is computing: evaluations of this segment are journaled for it. */
  computing: boolean;
}

/** One evaluation statement: segments of one dependency level, each with the customers it is evaluated for. */
export interface EvaluationLevel {
  segments: readonly EvaluatedSegment[];
  /** Per segment (same order), distinct customers. */
  customers: ReadonlyArray<readonly string[]>;
}

export interface LevelOutcome {
  entered: number;
  left: number;
}

/** Why a membership changed, as recorded on its event. */
export type EvaluationCause = 'event' | 'schedule';

/**
 * Held shared by every event evaluation, and exclusively by a full recompute
 * for two moments: while it takes its snapshot (so that every evaluation
 * either committed before it or is journaled after it) and while it applies
 * its result (so that every overlapping evaluation is committed and
 * journaled). Evaluations never wait on each other for it.
 */
export const EVALUATION_LOCK = 7_316_004;

/** Held by the one process that drains the change outbox. */
const EVALUATOR_LOCK = 7_316_005;

/**
 * The event path's SQL: evaluates a batch of customers against the segments
 * their changes can affect, one statement per dependency level, and applies
 * and records the differences set-based in the same statement.
 */
export class CustomerEvaluationRepository {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * A dedicated connection for the evaluator, holding the evaluator lock (one
   * evaluator per deployment, so evaluations of a customer never race each
   * other); null when another process holds it.
   */
  async acquireEvaluator(): Promise<pg.PoolClient | null> {
    const client = await this.pool.connect();
    try {
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [EVALUATOR_LOCK]);
      if (rows[0]!.locked) return client;
      client.release();
      return null;
    } catch (error) {
      client.release(true);
      throw error;
    }
  }

  /** Gives the evaluator lock and its connection back. */
  async releaseEvaluator(client: pg.PoolClient): Promise<void> {
    try {
      await client.query('SELECT pg_advisory_unlock($1)', [EVALUATOR_LOCK]);
      client.release();
    } catch {
      client.release(true);
    }
  }

  /** Runs `work` in one transaction on `client` holding the evaluation lock shared. */
  async transaction<T>(client: pg.PoolClient, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return inClientTransaction(client, async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock_shared($1)', [EVALUATION_LOCK]);
      // A batch against many segments joins wide in-memory sets: keep them off disk.
      await tx.query(`SET LOCAL work_mem = '64MB'`);
      return work(tx);
    });
  }

  /**
   * The database clock. Taken after a claim, it is later than every change
   * the claim took: a recompute computed before it saw all of them.
   */
  async clock(db: Queryable): Promise<Date> {
    const { rows } = await db.query<{ now: Date }>('SELECT clock_timestamp() AS now');
    return rows[0]!.now;
  }

  /**
   * The current version of each of these segments that is live and not
   * quarantined; `rules` caches rule bodies by id and version, so a batch
   * reads only versions it has not seen.
   */
  async liveSegments(db: Queryable, ids: readonly number[], rules: Map<string, Rule>): Promise<EvaluatedSegment[]> {
    if (ids.length === 0) return [];
    const { rows } = await db.query<{ id: number; version: number; computing: boolean }>(
      `SELECT id, version, computing_since IS NOT NULL AS computing FROM segments
        WHERE id = ANY($1::int[]) AND kind = 'RULE' AND status = 'ACTIVE' AND quarantined_at IS NULL ORDER BY id`,
      [ids],
    );
    const missing = rows.filter((r) => !rules.has(`${r.id}:${r.version}`));
    if (missing.length > 0) {
      const { rows: bodies } = await db.query<{ id: number; version: number; rule: Rule }>(
        `SELECT segment_id AS id, version, rule FROM segment_versions
          WHERE (segment_id, version) IN (SELECT * FROM unnest($1::int[], $2::int[]))`,
        [missing.map((r) => r.id), missing.map((r) => r.version)],
      );
      for (const b of bodies) rules.set(`${b.id}:${b.version}`, b.rule);
    }
    return rows.flatMap((r) => {
      const rule = rules.get(`${r.id}:${r.version}`);
      return rule ? [{ ...r, rule }] : [];
    });
  }

  /**
   * Evaluates one level as of `asOf` and applies it: members who no longer
   * match leave, customers who match enter, each change is recorded as an
   * event, sizes move by the difference, and evaluations of segments being
   * recomputed are journaled. One statement, one round trip.
   */
  async evaluateLevel(db: Queryable, level: EvaluationLevel, asOf: Date, cause: EvaluationCause): Promise<LevelOutcome> {
    const { segments, customers } = level;
    if (segments.length === 0) return { entered: 0, left: 0 };
    const universe = [...new Set(customers.flat())];
    const matrix = compileMembershipMatrix(
      segments.map((s) => s.rule),
      { asOf, customerIds: universe, scopes: customers, singlePass: true },
    );
    await lockSegmentRows(db, segments.map((s) => s.id)); // their sizes move below
    const n = matrix.values.length;
    const p = (i: number) => `$${n + i}`;
    const columns = segments.map((_, i) => `mx.m${i}`).join(', ');
    const { rows } = await db.query<LevelOutcome>(
      `WITH matrix AS (
         ${matrix.text}
       ), current AS MATERIALIZED (
         SELECT segment_id, customer_id FROM segment_memberships
          WHERE customer_id = ANY(${p(2)}::text[]) AND segment_id = ANY(${p(1)}::int[])
       ), cells AS (
         -- One row per (customer, segment) evaluated: a NULL cell was not in the segment's scope.
         SELECT mx.customer_id, u.segment_id, u.member
           FROM matrix mx CROSS JOIN LATERAL unnest(${p(1)}::int[], ARRAY[${columns}]::boolean[]) AS u (segment_id, member)
          WHERE u.member IS NOT NULL
       ), verdict AS MATERIALIZED (
         -- Only what can change something: matches, and members who no longer match
         -- (hash joins throughout: no subquery per row).
         SELECT v.customer_id, v.segment_id, v.member, c.customer_id IS NOT NULL AS was_member
           FROM cells v LEFT JOIN current c ON c.segment_id = v.segment_id AND c.customer_id = v.customer_id
          WHERE v.member OR c.customer_id IS NOT NULL
         UNION ALL
         -- A customer missing from customers has no matrix row: a member of nothing.
         SELECT c.customer_id, c.segment_id, false, true FROM current c LEFT JOIN customers k ON k.id = c.customer_id
          WHERE k.id IS NULL
       ), entered AS (
         INSERT INTO segment_memberships (segment_id, customer_id, since)
         SELECT segment_id, customer_id, ${p(3)}::timestamptz FROM verdict WHERE member AND NOT was_member
         RETURNING segment_id, customer_id
       ), departed AS (
         DELETE FROM segment_memberships m
          USING verdict d
          WHERE NOT d.member AND d.was_member AND m.segment_id = d.segment_id AND m.customer_id = d.customer_id
         RETURNING m.segment_id, m.customer_id
       ), versions AS (
         SELECT * FROM unnest(${p(1)}::int[], ${p(5)}::int[]) AS s (segment_id, version)
       ), recorded AS (
         INSERT INTO segment_membership_events (segment_id, customer_id, change, at, cause, segment_version)
         SELECT e.segment_id, e.customer_id, 'ENTERED', ${p(3)}::timestamptz, ${p(4)}::text, s.version FROM entered e JOIN versions s USING (segment_id)
         UNION ALL
         SELECT d.segment_id, d.customer_id, 'LEFT', ${p(3)}::timestamptz, ${p(4)}::text, s.version FROM departed d JOIN versions s USING (segment_id)
       ), journaled AS (
         INSERT INTO segment_evaluations (segment_id, version, evaluated_at, customer_ids)
         SELECT v.segment_id, s.version, ${p(3)}::timestamptz, array_agg(v.customer_id) FROM cells v JOIN versions s USING (segment_id)
          WHERE v.segment_id = ANY(${p(6)}::int[]) GROUP BY v.segment_id, s.version
       ), sized AS (
         UPDATE segments s SET size = s.size + d.delta
           FROM (SELECT segment_id, sum(delta)::int AS delta
                   FROM (SELECT segment_id, 1 AS delta FROM entered UNION ALL SELECT segment_id, -1 FROM departed) x
                  GROUP BY segment_id) d
          WHERE s.id = d.segment_id AND d.delta <> 0
       )
       SELECT (SELECT count(*)::int FROM entered) AS entered, (SELECT count(*)::int FROM departed) AS left`,
      [
        ...matrix.values,
        segments.map((s) => s.id),
        universe,
        asOf,
        cause,
        segments.map((s) => s.version),
        segments.filter((s) => s.computing).map((s) => s.id),
      ],
    );
    return rows[0]!;
  }

  /** Takes a segment out of evaluation until a recompute succeeds: its rule fails at run time. */
  async quarantine(db: Queryable, segmentId: number, message: string): Promise<void> {
    await db.query('UPDATE segments SET quarantined_at = now(), compute_error = $2 WHERE id = $1', [segmentId, message]);
  }
}
