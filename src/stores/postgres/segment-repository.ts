import type pg from 'pg';
import type { Rule } from '../../rules/rule.js';
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
}

export type SegmentChangeAction = 'CREATED' | 'UPDATED' | 'ARCHIVED' | 'RECOMPUTE_REQUESTED' | 'MEMBERS_ADDED' | 'MEMBERS_REMOVED';

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
}

/** A live segment already has the name being given. */
export class SegmentNameTakenError extends Error {
  override name = 'SegmentNameTakenError';
}

const COLUMNS = `id, name, description, status, size, created_at AS "createdAt", updated_at AS "updatedAt",
  last_computed_at AS "lastComputedAt", kind, rule, version, refresh_every_minutes AS "refreshEveryMinutes",
  compute_error AS "lastComputeError"`;

// Serialises changes to the inSegment graph, so two concurrent rule changes
// cannot each pass the cycle check and together make a cycle.
const DEPENDENCY_GRAPH_LOCK = 7_316_002;

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

  /** One segment, locked until the transaction ends (call inside `transaction`). */
  async lock(id: number): Promise<SegmentRecord | null> {
    const { rows } = await this.db.query<SegmentRecord>(`SELECT ${COLUMNS} FROM segments WHERE id = $1 FOR UPDATE`, [id]);
    return rows[0] ?? null;
  }

  /** One page ordered by id, plus whether more rows follow it. */
  async page({ first, afterId, status }: SegmentPageRequest): Promise<{ rows: SegmentRecord[]; hasNextPage: boolean }> {
    const { rows } = await this.db.query<SegmentRecord>(
      `SELECT ${COLUMNS} FROM segments
        WHERE ($1::int IS NULL OR id > $1) AND ($2::text IS NULL OR status = $2)
        ORDER BY id
        LIMIT $3`,
      [afterId ?? null, status ?? null, first + 1],
    );
    return { rows: rows.slice(0, first), hasNextPage: rows.length > first };
  }

  async count(status?: SegmentStatus): Promise<number> {
    const { rows } = await this.db.query<{ count: number }>(
      'SELECT count(*)::int AS count FROM segments WHERE $1::text IS NULL OR status = $1',
      [status ?? null],
    );
    return rows[0]!.count;
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
  async update(current: SegmentRecord, patch: SegmentPatch, actor: string): Promise<{ segment: SegmentRecord; changedFields: string[] }> {
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
    await this.recordChange(current.id, 'UPDATED', actor, { version, changedFields });
    return { segment, changedFields };
  }

  /** Archives a locked segment and records it. Call inside `transaction`. */
  async archive(current: SegmentRecord, actor: string): Promise<SegmentRecord> {
    const { rows } = await this.db.query<SegmentRecord>(
      `UPDATE segments SET status = 'ARCHIVED', updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
      [current.id],
    );
    await this.recordChange(current.id, 'ARCHIVED', actor, { version: current.version });
    return rows[0]!;
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
    details: { version: number; changedFields?: string[]; customerCount?: number },
  ): Promise<void> {
    await this.db.query(
      `INSERT INTO segment_history (segment_id, version, action, actor, changed_fields, customer_count)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [segmentId, details.version, action, actor, details.changedFields ?? [], details.customerCount ?? null],
    );
  }

  /** The newest `limit` changes of a segment, newest first. */
  async history(segmentId: number, limit: number): Promise<SegmentChangeRecord[]> {
    const { rows } = await this.db.query<SegmentChangeRecord>(
      `SELECT h.action, h.actor, h.at, h.version, h.changed_fields AS "changedFields", h.customer_count AS "customerCount",
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

  /** Takes the dependency-graph lock until the transaction ends. Call inside `transaction`. */
  async lockDependencyGraph(): Promise<void> {
    await this.db.query('SELECT pg_advisory_xact_lock($1)', [DEPENDENCY_GRAPH_LOCK]);
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
