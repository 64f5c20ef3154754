import type pg from 'pg';
import type { SqlQuery } from '../../rules/compile-sql.js';

export interface RulePreview {
  size: number;
  sample: string[];
}

export interface RuleChangePreview {
  currentSize: number;
  newSize: number;
  entering: number;
  leaving: number;
  enteringSample: string[];
  leavingSample: string[];
}

/**
 * Runs compiled rules without saving anything: sizes and random samples, in
 * one statement each. `members` is a compiled members query (compileMembersQuery).
 */
export class RulePreviewRepository {
  constructor(private readonly pool: pg.Pool) {}

  async preview(members: SqlQuery, sampleSize: number): Promise<RulePreview> {
    const n = members.values.length;
    const { rows } = await this.pool.query<RulePreview>(
      `WITH m AS MATERIALIZED (${members.text})
       SELECT (SELECT count(*)::int FROM m) AS size,
              coalesce((SELECT array_agg(customer_id) FROM (SELECT customer_id FROM m ORDER BY random() LIMIT $${n + 1}) s), '{}') AS sample`,
      [...members.values, sampleSize],
    );
    return rows[0]!;
  }

  /** Compares a compiled rule with the segment's current members. */
  async previewChange(segmentId: number, members: SqlQuery, sampleSize: number): Promise<RuleChangePreview> {
    const n = members.values.length;
    const { rows } = await this.pool.query<RuleChangePreview>(
      `WITH next AS MATERIALIZED (${members.text}),
            current AS MATERIALIZED (SELECT customer_id FROM segment_memberships WHERE segment_id = $${n + 1}),
            entering AS MATERIALIZED (SELECT customer_id FROM next EXCEPT SELECT customer_id FROM current),
            leaving AS MATERIALIZED (SELECT customer_id FROM current EXCEPT SELECT customer_id FROM next)
       SELECT (SELECT count(*)::int FROM current) AS "currentSize",
              (SELECT count(*)::int FROM next) AS "newSize",
              (SELECT count(*)::int FROM entering) AS entering,
              (SELECT count(*)::int FROM leaving) AS leaving,
              coalesce((SELECT array_agg(customer_id) FROM (SELECT customer_id FROM entering ORDER BY random() LIMIT $${n + 2}) s), '{}') AS "enteringSample",
              coalesce((SELECT array_agg(customer_id) FROM (SELECT customer_id FROM leaving ORDER BY random() LIMIT $${n + 2}) s), '{}') AS "leavingSample"`,
      [...members.values, segmentId, sampleSize],
    );
    return rows[0]!;
  }
}
