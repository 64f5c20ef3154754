import type { SqlQuery } from '../../rules/compile-sql.js';
import type { ConditionFacts } from '../../rules/explain-rule.js';
import type { Queryable } from './queryable.js';

/** A rule evaluated for one customer: the verdict, and the facts of each condition (in `conditionsOf` order). */
export interface RuleFacts {
  member: boolean;
  conditions: ConditionFacts[];
}

/** Reads what explains one customer's membership of one segment, evaluated now. Nothing is saved. */
export class MembershipExplanationRepository {
  constructor(private readonly db: Queryable) {}

  /**
   * Runs a compiled explanation (compileExplanationQuery) of a rule with
   * `conditionCount` conditions: one statement. Null when the customer is not
   * in `customers`.
   */
  async ruleFacts(query: SqlQuery, conditionCount: number): Promise<RuleFacts | null> {
    const { rows } = await this.db.query<Record<string, boolean | string | null>>(query);
    const row = rows[0];
    if (!row) return null;
    return {
      member: row.member === true,
      conditions: Array.from({ length: conditionCount }, (_, i) => ({ holds: row[`h${i}`] === true, actual: (row[`v${i}`] as string | null) ?? null })),
    };
  }

  /** Whether a customer is listed in a segment's stored members (a STATIC segment's list). */
  async listed(segmentId: number, customerId: string): Promise<boolean> {
    const { rows } = await this.db.query<{ listed: boolean }>(
      'SELECT EXISTS (SELECT 1 FROM segment_memberships WHERE segment_id = $1 AND customer_id = $2) AS listed',
      [segmentId, customerId],
    );
    return rows[0]!.listed;
  }
}
