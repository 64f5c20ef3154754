import type pg from 'pg';
import { ADVISORY_LOCKS } from '../stores/postgres/advisory-locks.js';
import type { ComputedSegment, SegmentComputationRepository } from '../stores/postgres/segment-computation-repository.js';
import { computeGroupChanges } from './segment-group-computation.js';

export type { MembershipCause } from '../domain/membership-cause.js';

export interface RecomputeOutcome {
  version: number;
  size: number;
  entered: number;
  left: number;
  /** Customers left as the event path evaluated them after this recompute's time of computation. */
  keptNewer: number;
  /** Time spent computing (no lock held) and applying (the evaluation lock held), in ms. */
  computeMs: number;
  applyMs: number;
}

/** Why a segment was not applied. */
export type RecomputeSkip =
  | { skipped: 'not a live RULE segment' }
  | { skipped: 'rule changed while computing' }
  | { skipped: 'a newer computation was applied' };

/** A segment whose rule failed at run time: the others of its group are computed without it. */
export interface RecomputeFailure {
  failed: string;
  /** SQLSTATE of the failure. */
  code: string | undefined;
}

export type RecomputeResult = RecomputeOutcome | RecomputeSkip | RecomputeFailure;

// A lock wait longer than this means something else holds the evaluation
// lock for long: retry rather than queue every event evaluation behind us.
const APPLY_LOCK_TIMEOUT_MS = 5_000;
const APPLY_ATTEMPTS = 5;
// Memberships changed by one pass after which their planner statistics are refreshed.
const ANALYZE_AFTER_CHANGES = 100_000;
// Changes per applied range: a range holds the evaluation lock for a fraction of a second.
const APPLY_CHUNK = 20_000;
/**
 * From this many segments, a group is computed in one pass over the customers
 * in the worker; below, each by its rule's SQL. A rule's SQL reads only the
 * orders of its stores (a few seconds at 1M customers / 10M orders), the pass
 * reads every customer (docs/benchmarks.md "Membership pipeline").
 */
const GROUP_PASS_FROM = 8;
/** Below this many changes the planner's defaults for a fresh temporary table serve as well as statistics. */
const ANALYZE_TARGET_FROM = 10_000;

/** Data errors (SQLSTATE class 22) come from a rule's values, not from the system: the rule is at fault. */
export function isRuleFailure(error: unknown): error is Error & { code: string } {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('22');
}

/**
 * The full-recompute protocol. One segment is its rule's set-based SQL; a
 * group of segments (created or scheduled together) is computed in one pass
 * over the customers in this process (computeGroupChanges, streamed: nothing
 * proportional to the customer base is held). Either way the rules are read
 * inside a REPEATABLE READ snapshot and compared with the memberships of that
 * snapshot into a temporary table of changes, with no lock that event
 * evaluations wait for. Each segment's changes are then applied in short
 * transactions that hold the evaluation lock: customers the event path
 * evaluated after the recompute's time of computation (the evaluation
 * journal) keep their newer answer. The SQL of each step is the
 * repository's; the order, the snapshot, the locks and the retries are here.
 */
export class SegmentRecompute {
  constructor(
    private readonly pool: pg.Pool,
    private readonly computations: SegmentComputationRepository,
  ) {}

  /**
   * Recomputes the live RULE segments among `segmentIds` together and applies
   * each. Returns a result per segment id asked for.
   */
  async run(segmentIds: readonly number[]): Promise<Map<number, RecomputeResult>> {
    const results = new Map<number, RecomputeResult>();
    if (segmentIds.length > 1 && segmentIds.length < GROUP_PASS_FROM) {
      // A few segments: each by its own SQL costs less than a pass over every customer.
      for (const id of segmentIds) for (const [key, value] of await this.run([id])) results.set(key, value);
      return results;
    }
    for (const id of segmentIds) results.set(id, { skipped: 'not a live RULE segment' });
    const client = await this.pool.connect();
    let failed = false;
    try {
      // Marked before the snapshot: from now on the event path journals its evaluations of these segments.
      // One row per statement: never holding one segment's row while waiting for another's.
      for (const id of [...segmentIds].sort((a, b) => a - b)) await this.computations.markComputing(client, id);
      const started = Date.now();
      let segments: Array<{ id: number; version: number; changes: number }>;
      let asOf: Date;
      try {
        ({ asOf, segments } = await this.computeTargets(client, segmentIds));
      } catch (error) {
        if (!isRuleFailure(error)) throw error;
        if (segmentIds.length === 1) {
          results.set(segmentIds[0]!, { failed: error.message, code: error.code });
          return results;
        }
        // One rule fails at run time: compute each alone, so that only it fails.
        for (const id of segmentIds) for (const [key, value] of await this.run([id])) results.set(key, value);
        return results;
      }
      const computeMs = Date.now() - started;
      let changed = 0;
      for (const segment of segments) {
        const applyStarted = Date.now();
        const outcome = await this.apply(client, segment, asOf);
        results.set(segment.id, 'skipped' in outcome ? outcome : { ...outcome, computeMs, applyMs: Date.now() - applyStarted });
        if (!('skipped' in outcome)) changed += outcome.entered + outcome.left;
      }
      // A bulk change makes the planner's statistics of memberships stale at once, and the
      // event path's plans depend on them: refresh them now rather than at autovacuum's pace.
      if (changed >= ANALYZE_AFTER_CHANGES) await this.computations.analyzeMemberships(client);
      return results;
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      if (!failed) await this.computations.dropTarget(client).catch(() => (failed = true));
      // A connection in an unknown state (a temp table, an open transaction) is not reused.
      client.release(failed || undefined);
    }
  }

  /**
   * Fills `recompute_target` with each segment's changes (see fillChanges) in
   * one REPEATABLE READ snapshot.
   * The snapshot is taken while no event evaluation is in flight (the
   * evaluation lock held exclusively for that moment): every evaluation
   * either committed before it, and the computation sees its writes (the
   * memberships that inSegment rules read included), or starts after it, sees
   * `computing_since` and is journaled with a later time than `asOf`.
   * Returns the time of computation and the segments computed, in column order.
   */
  private async computeTargets(
    client: pg.PoolClient,
    segmentIds: readonly number[],
  ): Promise<{ asOf: Date; segments: Array<{ id: number; version: number; changes: number }> }> {
    // A group is computed in this process from a stream read on a connection of its own (the snapshot),
    // its changes written into `recompute_target` on `client`, which applies them.
    const reader = segmentIds.length > 1 ? await this.pool.connect() : client;
    let healthy = true;
    await reader.query('SELECT pg_advisory_lock($1)', [ADVISORY_LOCKS.EVALUATION]);
    let locked = true;
    try {
      const asOf = await this.computations.clock(reader);
      await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      try {
        const segments = await this.computations.ruleSegments(reader, segmentIds);
        await reader.query('SELECT pg_advisory_unlock($1)', [ADVISORY_LOCKS.EVALUATION]);
        locked = false;
        const changes = segments.length > 0 ? await this.fillChanges(reader, client, segments, asOf) : [];
        await reader.query('COMMIT');
        return { asOf, segments: segments.map(({ id, version }, i) => ({ id, version, changes: changes[i]! })) };
      } catch (error) {
        healthy = false;
        await reader.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    } finally {
      if (locked) await reader.query('SELECT pg_advisory_unlock($1)', [ADVISORY_LOCKS.EVALUATION]).catch(() => (healthy = false));
      if (reader !== client) reader.release(healthy ? undefined : true);
    }
  }

  /**
   * Fills `recompute_target (segment_id, customer_id, member)` on `writer`
   * with the differences between each segment's rule and its memberships,
   * both read in the computation's snapshot (on `reader`): a steady segment
   * yields almost nothing to apply. One segment is its rule's SQL (on one
   * connection); a group is computed in one pass in this process
   * (computeGroupChanges). Returns each segment's number of changes.
   */
  private async fillChanges(reader: pg.PoolClient, writer: pg.PoolClient, segments: readonly ComputedSegment[], asOf: Date): Promise<number[]> {
    await this.computations.createTarget(writer);
    const changes =
      reader === writer ? [await this.computations.fillTargetByRule(writer, segments[0]!, asOf)] : await computeGroupChanges(reader, writer, segments, asOf);
    if (changes.reduce((a, b) => a + b, 0) >= ANALYZE_TARGET_FROM) await this.computations.analyzeTarget(writer);
    return changes;
  }

  /**
   * Applies one segment's changes, a range of customers at a time (at most
   * APPLY_CHUNK changes each), every range in a short transaction holding the
   * evaluation lock: every event evaluation that could overlap has committed
   * and journaled, and evaluations go on between ranges. Customers journaled
   * as evaluated after `asOf` for the same version keep their newer answer;
   * for every other customer the memberships are still those of the
   * computation's snapshot, since only evaluations (journaled) and this
   * segment's recomputes (checked) change them. Stops at the first range that
   * finds the rule changed, or a newer computation.
   */
  private async apply(
    client: pg.PoolClient,
    segment: { id: number; version: number; changes: number },
    asOf: Date,
  ): Promise<Omit<RecomputeOutcome, 'computeMs' | 'applyMs'> | RecomputeSkip> {
    const totals = { entered: 0, left: 0, keptNewer: 0 };
    let after = '';
    for (;;) {
      // A small change set is one range: no need to look for a bound.
      const upTo = segment.changes <= APPLY_CHUNK ? null : await this.computations.rangeEnd(client, segment.id, after, APPLY_CHUNK);
      const outcome = await this.applyRange(client, segment, asOf, after, upTo);
      if ('skipped' in outcome) return outcome;
      totals.entered += outcome.entered;
      totals.left += outcome.left;
      totals.keptNewer += outcome.keptNewer;
      if (upTo === null) return { version: segment.version, size: outcome.size, ...totals };
      after = upTo;
    }
  }

  /** One range of `apply`: changes of customers in (after, upTo], upTo null meaning to the end; the last range completes the segment. */
  private async applyRange(
    client: pg.PoolClient,
    segment: { id: number; version: number },
    asOf: Date,
    after: string,
    upTo: string | null,
  ): Promise<{ entered: number; left: number; keptNewer: number; size: number } | RecomputeSkip> {
    for (let attempt = 1; ; attempt++) {
      await client.query('BEGIN');
      try {
        await client.query(`SET LOCAL lock_timeout = ${APPLY_LOCK_TIMEOUT_MS}`);
        await client.query('SELECT pg_advisory_xact_lock($1)', [ADVISORY_LOCKS.EVALUATION]);
        const current = await this.computations.lockForApply(client, segment.id);
        let skip: RecomputeSkip | null = null;
        if (!current || current.status !== 'ACTIVE') skip = { skipped: 'not a live RULE segment' };
        else if (current.version !== segment.version) skip = { skipped: 'rule changed while computing' };
        else if (!current.computingSince || current.computingSince > asOf || (current.lastComputedAt && current.lastComputedAt > asOf)) {
          skip = { skipped: 'a newer computation was applied' };
        }
        if (skip) {
          // No recompute applies to a segment that is not live: its mark must not outlive this one.
          if (current && current.status !== 'ACTIVE') await this.computations.clearComputingMark(client, segment.id);
          await client.query('COMMIT');
          return skip;
        }
        const change = await this.computations.applyRange(client, segment, asOf, after, upTo);
        // The last range counts the size: every evaluation committed so far (none runs now) is in the count.
        const size =
          upTo === null
            ? await this.computations.completeApply(client, segment.id, asOf)
            : await this.computations.addToSize(client, segment.id, change.entered - change.left);
        await client.query('COMMIT');
        return { ...change, size };
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        // 55P03: the lock wait timed out; try again rather than hold evaluations up.
        if ((error as { code?: string }).code === '55P03' && attempt < APPLY_ATTEMPTS) continue;
        throw error;
      }
    }
  }
}
