import type pg from 'pg';
import type { Queryable } from './queryable.js';
import type { SqlQuery } from '../../rules/compile-sql.js';
import type { PreviewPoolConfig } from '../../platform/preview-pool-config.js';

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

/** A preview statement ran longer than the preview pool's statement timeout. */
export class PreviewStatementTimeout extends Error {
  override name = 'PreviewStatementTimeout';
  constructor(
    readonly timeoutMs: number,
    options?: ErrorOptions,
  ) {
    super(`the preview statement ran longer than ${timeoutMs} ms`, options);
  }
}

/** No connection of the preview pool was free, or could be made, in time. */
export class PreviewConnectionTimeout extends Error {
  override name = 'PreviewConnectionTimeout';
  constructor(
    readonly timeoutMs: number,
    options?: ErrorOptions,
  ) {
    super(`no preview connection within ${timeoutMs} ms`, options);
  }
}

// A statement whose answer is lost (a stalled server or network) is given up
// this long after the server should have cancelled it itself.
const ANSWER_GRACE_MS = 1000;

/** The options of the preview pool (pool.ts' createPool) that enforce `config`. */
export function previewPoolOptions(config: PreviewPoolConfig) {
  return {
    max: config.size,
    applicationName: 'segments-preview',
    statementTimeoutMs: config.statementTimeoutMs,
    queryTimeoutMs: config.statementTimeoutMs + ANSWER_GRACE_MS,
    connectionTimeoutMs: config.waitTimeoutMs,
  };
}

/**
 * Runs compiled rules without saving anything: sizes and random samples, in
 * one statement each. `members` is a compiled members query (compileMembersQuery).
 *
 * `pool` is the preview pool, made with `previewPoolOptions(limits)`: a
 * statement cut short by its timeouts rejects with PreviewStatementTimeout,
 * and a wait for a connection with PreviewConnectionTimeout.
 */
export class RulePreviewRepository {
  constructor(
    private readonly pool: Queryable,
    private readonly limits: Pick<PreviewPoolConfig, 'statementTimeoutMs' | 'waitTimeoutMs'>,
  ) {}

  async preview(members: SqlQuery, sampleSize: number): Promise<RulePreview> {
    const n = members.values.length;
    const { rows } = await this.query<RulePreview>(
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
    const { rows } = await this.query<RuleChangePreview>(
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

  private async query<Row extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<Row>> {
    try {
      return await this.pool.query<Row>(text, values);
    } catch (error) {
      throw this.timeoutBehind(error) ?? error;
    }
  }

  // pg and pg-pool give their own timeouts no code, only these messages (pg 8, pg-pool 3).
  private timeoutBehind(error: unknown): Error | undefined {
    const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
    if (code === '57014' && typeof message === 'string' && message.includes('statement timeout')) {
      return new PreviewStatementTimeout(this.limits.statementTimeoutMs, { cause: error });
    }
    if (message === 'Query read timeout') return new PreviewStatementTimeout(this.limits.statementTimeoutMs, { cause: error });
    if (message === 'timeout exceeded when trying to connect' || message === 'Connection terminated due to connection timeout') {
      return new PreviewConnectionTimeout(this.limits.waitTimeoutMs, { cause: error });
    }
    return undefined;
  }
}
