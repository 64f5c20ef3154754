import type { MembershipCause } from '../../domain/membership-cause.js';
import type pg from 'pg';
import { REFLECTED_UP_TO_SQL } from './pipeline-watermark.js';
import { inClientTransaction, type Queryable } from './queryable.js';

/** Every membership of one customer. */
export interface CustomerMemberships {
  customerId: string;
  memberships: Array<{ segmentId: number; since: Date }>;
}

export interface Member {
  customerId: string;
  /** When the customer entered the segment. */
  since: Date;
}

/**
 * The durable membership store (`segment_memberships`): the source of truth
 * that the Redis serving keys are derived from. Writes are set-based: one
 * statement per call, whatever the number of customers.
 */
export class MembershipRepository {
  constructor(private readonly pool: Queryable) {}

  /**
   * Adds members; customers already in the segment keep their `since`.
   * @returns the customers that were not members before
   */
  async add(segmentId: number, members: readonly Member[], db: Queryable = this.pool): Promise<string[]> {
    if (members.length === 0) return [];
    const { rows } = await db.query<{ customerId: string }>(
      `INSERT INTO segment_memberships (segment_id, customer_id, since)
       SELECT $1, m.customer_id, m.since FROM unnest($2::text[], $3::timestamptz[]) AS m (customer_id, since)
       ON CONFLICT (segment_id, customer_id) DO NOTHING
       RETURNING customer_id AS "customerId"`,
      [segmentId, members.map((m) => m.customerId), members.map((m) => m.since)],
    );
    return rows.map((r) => r.customerId);
  }

  /**
   * Many customers' memberships (segment id -> since, in the order of
   * `customerIds`) and how far they reflect committed changes, in one query:
   * the serving path's fallback when Redis cannot answer. `timeoutMs` bounds
   * the wait on the client side, so a stalled Postgres fails the read instead
   * of holding the request. With `segmentIds`, only memberships of those
   * segments (the serving path's read of segments being replaced).
   */
  async readMany(
    customerIds: readonly string[],
    timeoutMs: number,
    segmentIds?: readonly number[],
  ): Promise<{ snapshots: Array<Map<number, number>>; upToDateAt: Date }> {
    // One row per customer, memberships as {"segment id": epoch ms} (the shape of the Redis hash):
    // JSON parses far faster than a timestamp column per membership.
    const { rows } = await this.pool.query<{ customerId: string | null; memberships: Record<string, number> | null; upToDateAt: Date }>({
      text: `SELECT m.customer_id AS "customerId", m.memberships, w.at AS "upToDateAt"
               FROM (SELECT ${REFLECTED_UP_TO_SQL} AS at) w
               LEFT JOIN (SELECT customer_id, json_object_agg(segment_id, (extract(epoch FROM since) * 1000)::bigint) AS memberships
                            FROM segment_memberships
                           WHERE customer_id = ANY($1::text[]) AND ($2::int[] IS NULL OR segment_id = ANY($2::int[]))
                           GROUP BY customer_id) m ON true`,
      values: [customerIds, segmentIds ?? null],
      query_timeout: timeoutMs,
    } as pg.QueryConfig);
    const byCustomer = new Map<string, Record<string, number>>();
    for (const row of rows) if (row.customerId !== null && row.memberships) byCustomer.set(row.customerId, row.memberships);
    return {
      snapshots: customerIds.map((id) => new Map(Object.entries(byCustomer.get(id) ?? {}).map(([segmentId, sinceMs]) => [Number(segmentId), Number(sinceMs)]))),
      upToDateAt: rows[0]!.upToDateAt,
    };
  }

  /** @returns the customers that were members */
  async remove(segmentId: number, customerIds: readonly string[], db: Queryable = this.pool): Promise<string[]> {
    if (customerIds.length === 0) return [];
    const { rows } = await db.query<{ customerId: string }>(
      `DELETE FROM segment_memberships WHERE segment_id = $1 AND customer_id = ANY($2::text[])
       RETURNING customer_id AS "customerId"`,
      [segmentId, customerIds],
    );
    return rows.map((r) => r.customerId);
  }

  /**
   * Every customer's memberships, `batchSize` customers at a time in
   * customer-id order (keyset pagination on the customer index), so a full
   * pass never holds more than one batch in memory.
   */
  async *customerBatches(batchSize: number): AsyncGenerator<CustomerMemberships[]> {
    let after = '';
    for (;;) {
      const { rows } = await this.pool.query<{ customerId: string; segmentIds: number[]; since: Date[] }>(
        `SELECT customer_id AS "customerId", array_agg(segment_id ORDER BY segment_id) AS "segmentIds",
                array_agg(since ORDER BY segment_id) AS since
           FROM segment_memberships
          WHERE customer_id > $1 AND customer_id IN (
            SELECT DISTINCT customer_id FROM segment_memberships WHERE customer_id > $1 ORDER BY customer_id LIMIT $2)
          GROUP BY customer_id
          ORDER BY customer_id`,
        [after, batchSize],
      );
      if (rows.length === 0) return;
      yield rows.map((r) => ({
        customerId: r.customerId,
        memberships: r.segmentIds.map((segmentId, i) => ({ segmentId, since: r.since[i]! })),
      }));
      after = rows[rows.length - 1]!.customerId;
    }
  }

  /** Records enters or leaves as events, in the caller's transaction. */
  async recordEvents(
    segmentId: number,
    customerIds: readonly string[],
    change: 'ENTERED' | 'LEFT',
    details: { at: Date; cause: MembershipCause; segmentVersion: number },
    db: Queryable = this.pool,
  ): Promise<void> {
    if (customerIds.length === 0) return;
    await db.query(
      `INSERT INTO segment_membership_events (segment_id, customer_id, change, at, cause, segment_version)
       SELECT $1::int, unnest($2::text[]), $3::text, $4::timestamptz, $5::text, $6::int`,
      [segmentId, customerIds, change, details.at, details.cause, details.segmentVersion],
    );
  }

  /** The current memberships of these customers; one entry per customer, empty for those with none. */
  async forCustomers(customerIds: readonly string[], db: Queryable = this.pool): Promise<CustomerMemberships[]> {
    if (customerIds.length === 0) return [];
    const { rows } = await db.query<{ customerId: string; segmentIds: number[] | null; since: Date[] | null }>(
      `SELECT c.id AS "customerId", array_agg(m.segment_id ORDER BY m.segment_id) FILTER (WHERE m.segment_id IS NOT NULL) AS "segmentIds",
              array_agg(m.since ORDER BY m.segment_id) FILTER (WHERE m.segment_id IS NOT NULL) AS since
         FROM unnest($1::text[]) AS c (id) LEFT JOIN segment_memberships m ON m.customer_id = c.id
        GROUP BY c.id`,
      [[...new Set(customerIds)]],
    );
    return rows.map((r) => ({
      customerId: r.customerId,
      memberships: (r.segmentIds ?? []).map((segmentId, i) => ({ segmentId, since: r.since![i]! })),
    }));
  }

  /**
   * The reconciler's next round: the next `count` customers (in id order,
   * wrapping around) that have a membership, after where the walk shared by
   * every worker stands, with their memberships and whether any of their
   * membership events still waits to be published; the walk moves past them
   * (a round that fails after this leaves them to the next pass).
   * Null when the last round, any worker's, is younger than `minGapMs`: the
   * deployment compares `count` customers a period, however many workers
   * ask. The page is one statement, so the memberships and the pending mark
   * are of the same moment; the transaction is short (no Redis in it).
   */
  async nextReconcilePage(count: number, minGapMs: number, db: pg.PoolClient): Promise<Array<CustomerMemberships & { pending: boolean }> | null> {
    // The page's cost estimate (a nested loop over its memberships) is past jit_above_cost, and
    // compiling took 20 to 40 ms of a 60 ms round at 1,000 segments: not worth it for one page.
    return inClientTransaction(
      db,
      async () => {
        // Row locked: two workers never take the same round.
        const { rows: due } = await db.query<{ after: string }>(
          `SELECT after_customer AS after FROM serving_reconcile_cursor
            WHERE round_at <= now() - make_interval(secs => $1::float8 / 1000) FOR UPDATE`,
          [minGapMs],
        );
        if (due.length === 0) return null;
        const { rows } = await db.query<{ customerId: string; segmentIds: number[]; since: Date[]; pending: boolean }>(
          `SELECT c.customer_id AS "customerId",
                  array_agg(m.segment_id ORDER BY m.segment_id) AS "segmentIds", array_agg(m.since ORDER BY m.segment_id) AS since,
                  EXISTS (SELECT 1 FROM membership_event_outbox o JOIN segment_membership_events e ON e.id = o.event_id
                           WHERE e.customer_id = c.customer_id) AS pending
             FROM (SELECT DISTINCT customer_id FROM segment_memberships WHERE customer_id > $1 ORDER BY customer_id LIMIT $2) c
             JOIN segment_memberships m ON m.customer_id = c.customer_id
            GROUP BY c.customer_id ORDER BY c.customer_id`,
          [due[0]!.after, count],
        );
        // A short page is the end of the walk: the next round starts again from the first customer.
        const next = rows.length < count ? '' : rows.at(-1)!.customerId;
        await db.query('UPDATE serving_reconcile_cursor SET after_customer = $1, round_at = now()', [next]);
        return rows.map((r) => ({
          customerId: r.customerId,
          pending: r.pending,
          memberships: r.segmentIds.map((segmentId, i) => ({ segmentId, since: r.since[i]! })),
        }));
      },
      'BEGIN; SET LOCAL jit = off',
    );
  }

  /** Which of these customers have at least one membership. */
  async customersWithMemberships(customerIds: readonly string[]): Promise<Set<string>> {
    if (customerIds.length === 0) return new Set();
    const { rows } = await this.pool.query<{ customerId: string }>(
      `SELECT c.id AS "customerId" FROM unnest($1::text[]) AS c (id)
        WHERE EXISTS (SELECT 1 FROM segment_memberships m WHERE m.customer_id = c.id)`,
      [customerIds],
    );
    return new Set(rows.map((r) => r.customerId));
  }
}
