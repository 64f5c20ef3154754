import type pg from 'pg';

export type SegmentStatus = 'ACTIVE' | 'ARCHIVED';

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
}

export interface NewSegment {
  name: string;
  description?: string | null;
}

export interface SegmentPageRequest {
  /** Rows to return; the repository reads one more to tell whether a next page exists. */
  first: number;
  /** Return segments with an id greater than this. */
  afterId?: number;
  status?: SegmentStatus;
}

const COLUMNS = `id, name, description, status, size, created_at AS "createdAt",
  updated_at AS "updatedAt", last_computed_at AS "lastComputedAt"`;

/** Reads and writes segment definitions. The only place with SQL about `segments`. */
export class SegmentRepository {
  constructor(private readonly pool: pg.Pool) {}

  /** The segments with these ids, in no particular order; unknown ids are absent. */
  async findByIds(ids: readonly number[]): Promise<SegmentRecord[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.pool.query<SegmentRecord>(`SELECT ${COLUMNS} FROM segments WHERE id = ANY($1::int[])`, [
      ids,
    ]);
    return rows;
  }

  /** One page ordered by id, plus whether more rows follow it. */
  async page({ first, afterId, status }: SegmentPageRequest): Promise<{ rows: SegmentRecord[]; hasNextPage: boolean }> {
    const { rows } = await this.pool.query<SegmentRecord>(
      `SELECT ${COLUMNS} FROM segments
        WHERE ($1::int IS NULL OR id > $1) AND ($2::text IS NULL OR status = $2)
        ORDER BY id
        LIMIT $3`,
      [afterId ?? null, status ?? null, first + 1],
    );
    return { rows: rows.slice(0, first), hasNextPage: rows.length > first };
  }

  async count(status?: SegmentStatus): Promise<number> {
    const { rows } = await this.pool.query<{ count: number }>(
      'SELECT count(*)::int AS count FROM segments WHERE $1::text IS NULL OR status = $1',
      [status ?? null],
    );
    return rows[0]!.count;
  }

  async create(segment: NewSegment): Promise<SegmentRecord> {
    const { rows } = await this.pool.query<SegmentRecord>(
      `INSERT INTO segments (name, description) VALUES ($1, $2) RETURNING ${COLUMNS}`,
      [segment.name, segment.description ?? null],
    );
    return rows[0]!;
  }

  /** Marks the segment archived; returns it, or null when no segment has that id. */
  async archive(id: number): Promise<SegmentRecord | null> {
    const { rows } = await this.pool.query<SegmentRecord>(
      `UPDATE segments SET status = 'ARCHIVED', updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
      [id],
    );
    return rows[0] ?? null;
  }
}
