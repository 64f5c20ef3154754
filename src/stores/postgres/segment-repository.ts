import type pg from 'pg';
import type { Rule } from '../../rules/rule.js';
import { ADVISORY_LOCKS } from './advisory-locks.js';
import { inTransaction, type Queryable } from './queryable.js';

export type SegmentStatus = 'ACTIVE' | 'ARCHIVED';
export type SegmentKind = 'RULE' | 'STATIC';

/** A segment definition as stored in Postgres; what GraphQL `Segment` resolves from. */
export interface SegmentRecord {
  id: number;
  name: string;
  description: string | null;
  status: SegmentStatus;
  /** Members at the last computation. */
  size: number;
  createdAt: Date;
  updatedAt: Date;
  lastComputedAt: Date | null;
  kind: SegmentKind;
  /** The normalized rule; null for STATIC segments. */
  rule: Rule | null;
  version: number;
  refreshEveryMinutes: number | null;
  /** Why the rule is quarantined (it failed at run time); null while it computes normally. */
  lastComputeError: string | null;
  /** Where its computation stands (COMPUTE_STATE_SQL); read with the row. */
  computeState: ComputeState;
  /** A live RULE segment without a completed compute within twice its refresh period (STALE_SQL). */
  stale: boolean;
}

export type ComputeState = 'IDLE' | 'QUEUED' | 'COMPUTING' | 'FAILED';

export type SegmentChangeAction =
  | 'CREATED'
  | 'UPDATED'
  | 'ARCHIVED'
  | 'RECOMPUTE_REQUESTED'
  | 'MEMBERS_ADDED'
  | 'MEMBERS_REMOVED'
  | 'MEMBERS_IMPORTED'
  | 'ROLLED_BACK';

/** One entry of a segment's history. */
export interface SegmentChangeRecord {
  action: SegmentChangeAction;
  actor: string;
  at: Date;
  version: number;
  changedFields: string[];
  customerCount: number | null;
  /** The rule of `version` for changes that set one. */
  rule: Rule | null;
  /** For ROLLED_BACK: the version whose rule was restored. */
  restoredVersion: number | null;
}

/** What an earlier createSegment with the same idempotency key left. */
export interface CreateRequestRecord {
  requestHash: string;
  segmentId: number | null;
}

export interface NewSegment {
  name: string;
  description?: string | null;
  /** Absent for a STATIC segment. */
  rule?: Rule | null;
  /** Required with a rule. */
  refreshEveryMinutes?: number | null;
  /** Segments the rule reads through inSegment. */
  dependsOn?: readonly number[];
}

export interface SegmentPatch {
  name?: string;
  description?: string | null;
  rule?: Rule;
  refreshEveryMinutes?: number;
  /** With `rule`: the segments the new rule reads. */
  dependsOn?: readonly number[];
}

export interface SegmentPageRequest {
  /** Rows to return; the repository reads one more to tell whether a next page exists. */
  first: number;
  /** Return segments with an id greater than this. */
  afterId?: number;
  status?: SegmentStatus;
  /** Only stale segments (true) or only the others (false). */
  stale?: boolean;
}

/** A live segment already has the name being given. */
export class SegmentNameTakenError extends Error {
  override name = 'SegmentNameTakenError';
}

/**
 * A live RULE segment is stale when no compute completed within twice its
 * refresh period: never computed and created longer ago than that, or last
 * computed before it (issue 10). STATIC and archived segments never are.
 */
export const STALE_SQL = `(segments.kind = 'RULE' AND segments.status = 'ACTIVE'
  AND COALESCE(segments.last_computed_at, segments.created_at) < now() - 2 * segments.refresh_every_minutes * interval '1 minute')`;

/**
 * FAILED: quarantined (its last compute failed); COMPUTING: a compute holds
 * it; QUEUED: its rule changed since the last compute, or a recompute waits in
 * the admin outbox; IDLE otherwise, and always for STATIC and archived segments.
 * Postgres only: the BullMQ queue in Redis is not read on this path.
 */
const COMPUTE_STATE_SQL = `CASE
  WHEN segments.kind = 'STATIC' OR segments.status <> 'ACTIVE' THEN 'IDLE'
  WHEN segments.quarantined_at IS NOT NULL OR segments.compute_error IS NOT NULL THEN 'FAILED'
  WHEN segments.computing_since IS NOT NULL THEN 'COMPUTING'
  WHEN segments.last_computed_at IS NULL OR segments.last_computed_at < segments.rule_changed_at
    OR EXISTS (SELECT 1 FROM segment_outbox o WHERE o.segment_id = segments.id AND o.effect = 'recompute') THEN 'QUEUED'
  ELSE 'IDLE' END`;

/**
 * A segment's size: its row's `size` plus the deltas the event path wrote and
 * no fold has added yet (migration 0012), so that reads are exact at once
 * while evaluations never lock the row.
 */
export const SEGMENT_SIZE_SQL = `(segments.size + coalesce((SELECT sum(d.delta) FROM segment_size_deltas d WHERE d.segment_id = segments.id), 0))::int`;

const COLUMNS = `id, name, description, status, ${SEGMENT_SIZE_SQL} AS size, created_at AS "createdAt", updated_at AS "updatedAt",
  last_computed_at AS "lastComputedAt", kind, rule, version, refresh_every_minutes AS "refreshEveryMinutes",
  compute_error AS "lastComputeError", ${COMPUTE_STATE_SQL} AS "computeState", ${STALE_SQL} AS stale`;


/**
 * Locks segment rows until the transaction ends, in id order. Every writer
 * that locks several segments (sizes moved by an evaluation, watermarks moved
 * by time maintenance) goes through here, so no two of them deadlock.
 */
export async function lockSegmentRows(db: Queryable, ids: readonly number[]): Promise<void> {
  await db.query('SELECT 1 FROM segments WHERE id = ANY($1::int[]) ORDER BY id FOR NO KEY UPDATE', [ids]);
}

/** Reads and writes segment definitions. The only place with SQL about `segments`. */
export class SegmentRepository {
  constructor(private readonly db: Queryable) {}

  /** Runs `work` with a repository bound to one transaction. */
  transaction<T>(work: (segments: SegmentRepository) => Promise<T>): Promise<T> {
    return inTransaction(this.db as pg.Pool, (client) => work(new SegmentRepository(client)));
  }

  /** The segments with these ids, in no particular order; unknown ids are absent. */
  async findByIds(ids: readonly number[]): Promise<SegmentRecord[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.db.query<SegmentRecord>(`SELECT ${COLUMNS} FROM segments WHERE id = ANY($1::int[])`, [ids]);
    return rows;
  }

  /**
   * One segment, locked until the transaction ends (call inside `transaction`).
   * FOR NO KEY UPDATE, as its UPDATE takes anyway: the weakest lock that
   * serialises changes of the segment, so that rows referencing it (versions,
   * history) can still be written by others meanwhile.
   */
  async lock(id: number): Promise<SegmentRecord | null> {
    const { rows } = await this.db.query<SegmentRecord>(`SELECT ${COLUMNS} FROM segments WHERE id = $1 FOR NO KEY UPDATE`, [id]);
    return rows[0] ?? null;
  }

  /** One page ordered by id, plus whether more rows follow it. */
  async page({ first, afterId, status, stale }: SegmentPageRequest): Promise<{ rows: SegmentRecord[]; hasNextPage: boolean }> {
    const { rows } = await this.db.query<SegmentRecord>(
      `SELECT ${COLUMNS} FROM segments
        WHERE ($1::int IS NULL OR id > $1) AND ($2::text IS NULL OR status = $2) AND ($4::boolean IS NULL OR ${STALE_SQL} = $4)
        ORDER BY id
        LIMIT $3`,
      [afterId ?? null, status ?? null, first + 1, stale ?? null],
    );
    return { rows: rows.slice(0, first), hasNextPage: rows.length > first };
  }

  async count(status?: SegmentStatus, stale?: boolean): Promise<number> {
    const { rows } = await this.db.query<{ count: number }>(
      `SELECT count(*)::int AS count FROM segments WHERE ($1::text IS NULL OR status = $1) AND ($2::boolean IS NULL OR ${STALE_SQL} = $2)`,
      [status ?? null, stale ?? null],
    );
    return rows[0]!.count;
  }

  /** How many segments are stale (STALE_SQL) and how many are quarantined: the compute-health gauges. */
  async computeHealth(): Promise<{ stale: number; failed: number }> {
    const { rows } = await this.db.query<{ stale: number; failed: number }>(
      `SELECT count(*) FILTER (WHERE ${STALE_SQL})::int AS stale,
              count(*) FILTER (WHERE status = 'ACTIVE' AND (quarantined_at IS NOT NULL OR compute_error IS NOT NULL))::int AS failed
         FROM segments`,
    );
    return rows[0]!;
  }

  /** Creates a segment with its first version and history entry. Call inside `transaction`. */
  async create(segment: NewSegment, actor: string): Promise<SegmentRecord> {
    const rule = segment.rule ?? null;
    const row = await this.uniqueName(() =>
      this.db.query<SegmentRecord>(
        `INSERT INTO segments (name, description, kind, rule, refresh_every_minutes)
         VALUES ($1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
        [segment.name, segment.description ?? null, rule ? 'RULE' : 'STATIC', rule, rule ? segment.refreshEveryMinutes : null],
      ),
    );
    await this.db.query('INSERT INTO segment_versions (segment_id, version, rule, created_by) VALUES ($1, 1, $2, $3)', [row.id, rule, actor]);
    await this.replaceDependencies(row.id, segment.dependsOn ?? []);
    await this.recordChange(row.id, 'CREATED', actor, { version: 1 });
    return row;
  }

  /**
   * Applies a patch to a locked segment; a rule change makes a new version.
   * Records the change and returns the segment and the fields that changed
   * (none when the patch repeats what is stored). Call inside `transaction`.
   */
  async update(
    current: SegmentRecord,
    patch: SegmentPatch,
    actor: string,
    /** A rollback records itself as ROLLED_BACK, with the version it restored. */
    rollback?: { restoredVersion: number },
  ): Promise<{ segment: SegmentRecord; changedFields: string[] }> {
    const changedFields: string[] = [];
    if (patch.name !== undefined && patch.name !== current.name) changedFields.push('name');
    if (patch.description !== undefined && patch.description !== current.description) changedFields.push('description');
    const ruleChanged = patch.rule !== undefined && JSON.stringify(patch.rule) !== JSON.stringify(current.rule);
    if (ruleChanged) changedFields.push('rule');
    if (patch.refreshEveryMinutes !== undefined && patch.refreshEveryMinutes !== current.refreshEveryMinutes) changedFields.push('refreshEveryMinutes');
    if (changedFields.length === 0) return { segment: current, changedFields };

    const version = ruleChanged ? current.version + 1 : current.version;
    const segment = await this.uniqueName(() =>
      this.db.query<SegmentRecord>(
        `UPDATE segments SET name = $2, description = $3, rule = $4, refresh_every_minutes = $5, version = $6, updated_at = now(),
                rule_changed_at = CASE WHEN version <> $6 THEN now() ELSE rule_changed_at END
          WHERE id = $1 RETURNING ${COLUMNS}`,
        [
          current.id,
          patch.name ?? current.name,
          patch.description !== undefined ? patch.description : current.description,
          ruleChanged ? patch.rule : current.rule,
          patch.refreshEveryMinutes ?? current.refreshEveryMinutes,
          version,
        ],
      ),
    );
    if (ruleChanged) {
      await this.db.query('INSERT INTO segment_versions (segment_id, version, rule, created_by) VALUES ($1, $2, $3, $4)', [
        current.id,
        version,
        patch.rule,
        actor,
      ]);
      await this.replaceDependencies(current.id, patch.dependsOn ?? []);
    }
    await this.recordChange(current.id, rollback ? 'ROLLED_BACK' : 'UPDATED', actor, { version, changedFields, restoredVersion: rollback?.restoredVersion });
    return { segment, changedFields };
  }

  /**
   * Archives a locked segment and records it. Call inside `transaction`.
   * Clears its computing mark: a recompute in flight drops its result, and a
   * mark left behind would keep the evaluation journal forever (issue 15).
   */
  async archive(current: SegmentRecord, actor: string): Promise<SegmentRecord> {
    const { rows } = await this.db.query<SegmentRecord>(
      `UPDATE segments SET status = 'ARCHIVED', computing_since = NULL, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
      [current.id],
    );
    await this.recordChange(current.id, 'ARCHIVED', actor, { version: current.version });
    return rows[0]!;
  }

  /**
   * Adds the event path's size deltas into the segments' rows, in one
   * statement: only segments whose row it can lock at once (one an admin
   * holds waits for the next fold, never the other way round), and only the
   * deltas committed when it starts. Returns the segments folded.
   */
  async foldSizeDeltas(): Promise<number> {
    const { rowCount } = await this.db.query(
      `WITH locked AS (
         SELECT id FROM segments WHERE id IN (SELECT DISTINCT segment_id FROM segment_size_deltas) ORDER BY id FOR NO KEY UPDATE SKIP LOCKED
       ), folded AS (
         DELETE FROM segment_size_deltas d USING locked l WHERE d.segment_id = l.id RETURNING d.segment_id, d.delta
       )
       UPDATE segments s SET size = s.size + f.delta
         FROM (SELECT segment_id, sum(delta)::int AS delta FROM folded GROUP BY segment_id) f
        WHERE s.id = f.segment_id`,
    );
    return rowCount ?? 0;
  }

  /** Adds `delta` to a locked segment's size. Call inside `transaction`. */
  async addToSize(segmentId: number, delta: number): Promise<SegmentRecord> {
    const { rows } = await this.db.query<SegmentRecord>(
      `UPDATE segments SET size = size + $2, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
      [segmentId, delta],
    );
    return rows[0]!;
  }

  /** The client this repository runs on, for other repositories joining its transaction. */
  get connection(): Queryable {
    return this.db;
  }

  async recordChange(
    segmentId: number,
    action: SegmentChangeAction,
    actor: string,
    details: { version: number; changedFields?: string[]; customerCount?: number; restoredVersion?: number },
  ): Promise<void> {
    await this.db.query(
      `INSERT INTO segment_history (segment_id, version, action, actor, changed_fields, customer_count, restored_version)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [segmentId, details.version, action, actor, details.changedFields ?? [], details.customerCount ?? null, details.restoredVersion ?? null],
    );
  }

  /** The rule a segment had at `version` (null for a STATIC segment); undefined when it never had that version. */
  async ruleAt(segmentId: number, version: number): Promise<Rule | null | undefined> {
    const { rows } = await this.db.query<{ rule: Rule | null }>('SELECT rule FROM segment_versions WHERE segment_id = $1 AND version = $2', [
      segmentId,
      version,
    ]);
    return rows.length === 0 ? undefined : rows[0]!.rule;
  }

  /**
   * Claims an idempotency key of createSegment for `actor`: null when this
   * call is the first with it, or what the earlier call left. A concurrent
   * first call holds the key until its transaction ends; this waits for it.
   * Call inside `transaction`.
   */
  async claimCreateRequest(actor: string, key: string, requestHash: string): Promise<CreateRequestRecord | null> {
    const inserted = await this.db.query(
      `INSERT INTO segment_create_requests (actor, idempotency_key, request_hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
      [actor, key, requestHash],
    );
    if (inserted.rowCount === 1) return null;
    const { rows } = await this.db.query<CreateRequestRecord>(
      `SELECT request_hash AS "requestHash", segment_id AS "segmentId" FROM segment_create_requests WHERE actor = $1 AND idempotency_key = $2`,
      [actor, key],
    );
    return rows[0]!;
  }

  /** Records which segment a claimed idempotency key created. Call inside `transaction`. */
  async completeCreateRequest(actor: string, key: string, segmentId: number): Promise<void> {
    await this.db.query('UPDATE segment_create_requests SET segment_id = $3 WHERE actor = $1 AND idempotency_key = $2', [actor, key, segmentId]);
  }

  /** The newest `limit` changes of a segment, newest first. */
  async history(segmentId: number, limit: number): Promise<SegmentChangeRecord[]> {
    const { rows } = await this.db.query<SegmentChangeRecord>(
      `SELECT h.action, h.actor, h.at, h.version, h.changed_fields AS "changedFields", h.customer_count AS "customerCount",
              h.restored_version AS "restoredVersion",
              CASE WHEN h.action = 'CREATED' OR 'rule' = ANY(h.changed_fields) THEN v.rule END AS rule
         FROM segment_history h
         LEFT JOIN segment_versions v ON v.segment_id = h.segment_id AND v.version = h.version
        WHERE h.segment_id = $1
        ORDER BY h.id DESC
        LIMIT $2`,
      [segmentId, limit],
    );
    return rows;
  }

  /** Segments not archived. */
  async liveCount(): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM segments WHERE status <> 'ARCHIVED'`);
    return rows[0]!.n;
  }

  /** Takes the dependency-graph lock until the transaction ends. Call inside `transaction`. */
  async lockDependencyGraph(): Promise<void> {
    await this.db.query('SELECT pg_advisory_xact_lock($1)', [ADVISORY_LOCKS.DEPENDENCY_GRAPH]);
  }

  /** Which of `startIds` lead to `targetId` through inSegment dependencies (themselves included). */
  async reaching(startIds: readonly number[], targetId: number): Promise<number[]> {
    if (startIds.length === 0) return [];
    const { rows } = await this.db.query<{ start: number }>(
      `WITH RECURSIVE reach (start, id) AS (
         SELECT s, s FROM unnest($1::int[]) AS s
         UNION
         SELECT reach.start, d.depends_on FROM segment_dependencies d JOIN reach ON d.segment_id = reach.id
       )
       SELECT DISTINCT start FROM reach WHERE id = $2`,
      [startIds, targetId],
    );
    return rows.map((r) => r.start);
  }

  /** Segments not archived whose rules read this one. */
  async liveDependents(segmentId: number): Promise<number[]> {
    const { rows } = await this.db.query<{ id: number }>(
      `SELECT s.id FROM segment_dependencies d JOIN segments s ON s.id = d.segment_id
        WHERE d.depends_on = $1 AND s.status <> 'ARCHIVED' ORDER BY s.id`,
      [segmentId],
    );
    return rows.map((r) => r.id);
  }

  private async replaceDependencies(segmentId: number, dependsOn: readonly number[]): Promise<void> {
    await this.db.query('DELETE FROM segment_dependencies WHERE segment_id = $1', [segmentId]);
    if (dependsOn.length === 0) return;
    await this.db.query(
      'INSERT INTO segment_dependencies (segment_id, depends_on) SELECT $1, unnest($2::int[]) ON CONFLICT DO NOTHING',
      [segmentId, dependsOn],
    );
  }

  private async uniqueName(write: () => Promise<pg.QueryResult<SegmentRecord>>): Promise<SegmentRecord> {
    try {
      return (await write()).rows[0]!;
    } catch (error) {
      const e = error as { code?: string; constraint?: string };
      if (e.code === '23505' && e.constraint === 'segments_live_name_key') throw new SegmentNameTakenError('name taken');
      throw error;
    }
  }
}
