import type pg from 'pg';
import { inTransaction, type Queryable } from './queryable.js';

/**
 * What an admin change asks of the rest of the system, carried out by the
 * workers' relay (migration 0010):
 * - `announce-definition` / `announce-size`: every process drops its cached
 *   copy of the segment (and workers re-index its rule, for definitions);
 * - `sync-schedule`: the segment's periodic recompute matches the segment as
 *   it is then (installed or updated for a live RULE segment, removed otherwise);
 * - `recompute`: a full recompute of the segment, if it is a live RULE segment.
 */
export type SegmentEffect = 'announce-definition' | 'announce-size' | 'sync-schedule' | 'recompute';

export type SegmentEffectRequest =
  | { segmentId: number; effect: SegmentEffect }
  /** eraseCustomer: the customer's Redis serving key goes, under the serving-store lock. */
  | { customerId: string; effect: 'erase-serving-key' };

/** The transactional outbox of admin changes (table `segment_outbox`). */
export class SegmentOutboxRepository {
  constructor(private readonly pool: pg.Pool) {}

  /** Records effects inside the caller's transaction: they exist exactly when the change does. */
  async record(db: Queryable, effects: readonly SegmentEffectRequest[]): Promise<void> {
    if (effects.length === 0) return;
    await db.query('INSERT INTO segment_outbox (segment_id, customer_id, effect) SELECT * FROM unnest($1::int[], $2::text[], $3::text[])', [
      effects.map((e) => ('segmentId' in e ? e.segmentId : null)),
      effects.map((e) => ('customerId' in e ? e.customerId : null)),
      effects.map((e) => e.effect),
    ]);
  }

  /**
   * Takes up to `limit` effects, oldest first, and has `carryOut` perform
   * them; they are deleted only if it resolves, in the same transaction, so
   * a failure (Redis down) or a crash leaves them for the next drain. Rows
   * another relay holds are skipped, not waited for.
   *
   * @returns how many effects were carried out
   */
  async drain(limit: number, carryOut: (effects: SegmentEffectRequest[]) => Promise<void>): Promise<number> {
    return inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<{ id: string; segmentId: number | null; customerId: string | null; effect: SegmentEffectRequest['effect'] }>(
        `SELECT id, segment_id AS "segmentId", customer_id AS "customerId", effect FROM segment_outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [limit],
      );
      if (rows.length === 0) return 0;
      await carryOut(
        rows.map(({ segmentId, customerId, effect }) =>
          effect === 'erase-serving-key' ? { customerId: customerId!, effect } : { segmentId: segmentId!, effect },
        ),
      );
      await client.query('DELETE FROM segment_outbox WHERE id = ANY($1::bigint[])', [rows.map((r) => r.id)]);
      return rows.length;
    });
  }

  /** When the oldest effect not carried out yet was recorded; null when there is none. */
  async oldestPending(): Promise<Date | null> {
    const { rows } = await this.pool.query<{ at: Date | null }>('SELECT min(recorded_at) AS at FROM segment_outbox');
    return rows[0]!.at;
  }
}
