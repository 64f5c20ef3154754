import type pg from 'pg';

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
  constructor(private readonly pool: pg.Pool) {}

  /** Adds members; customers already in the segment keep their `since`. */
  async add(segmentId: number, members: readonly Member[]): Promise<void> {
    if (members.length === 0) return;
    await this.pool.query(
      `INSERT INTO segment_memberships (segment_id, customer_id, since)
       SELECT $1, m.customer_id, m.since FROM unnest($2::text[], $3::timestamptz[]) AS m (customer_id, since)
       ON CONFLICT (segment_id, customer_id) DO NOTHING`,
      [segmentId, members.map((m) => m.customerId), members.map((m) => m.since)],
    );
  }

  async remove(segmentId: number, customerIds: readonly string[]): Promise<void> {
    if (customerIds.length === 0) return;
    await this.pool.query('DELETE FROM segment_memberships WHERE segment_id = $1 AND customer_id = ANY($2::text[])', [
      segmentId,
      customerIds,
    ]);
  }
}
