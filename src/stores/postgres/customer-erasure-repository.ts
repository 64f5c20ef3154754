import type pg from 'pg';
import { ADVISORY_LOCKS } from './advisory-locks.js';
import { inTransaction, type Queryable } from './queryable.js';

/** What an erasure removed, as recorded in `customer_erasures`. */
export interface ErasureRecord {
  customerHash: string;
  erasedAt: Date;
  /** Segments the customer was a member of (RULE and STATIC). */
  memberships: number;
  /** Membership history events removed. */
  events: number;
  /** Changes of the customer still waiting for evaluation, dropped. */
  pendingChanges: number;
}

/**
 * Removes what this service holds about one customer from Postgres (the
 * source of truth), in the caller's transaction, and records the erasure
 * under a hash of the id. Orders and customer rows belong to other services
 * and are left alone.
 */
export class CustomerErasureRepository {
  constructor(private readonly pool: pg.Pool) {}

  transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, work);
  }

  /**
   * @returns the record written, and the segments whose size changed
   */
  async erase(db: Queryable, customerId: string, customerHash: string, actor: string): Promise<{ record: ErasureRecord; segmentIds: number[] }> {
    // An evaluation batch in flight may have claimed this customer's changes: it commits before the
    // erasure reads anything (the evaluation lock, exclusive until this transaction ends), so what it
    // wrote is erased too, and no batch starts meanwhile. Batches are short; erasures are rare.
    await db.query('SELECT pg_advisory_xact_lock($1)', [ADVISORY_LOCKS.EVALUATION]);
    const { rows: removed } = await db.query<{ segmentId: number }>(
      'DELETE FROM segment_memberships WHERE customer_id = $1 RETURNING segment_id AS "segmentId"',
      [customerId],
    );
    const segmentIds = removed.map((r) => r.segmentId).sort((a, b) => a - b);
    // Sizes move by deltas, as the event path moves them: no segment row is locked.
    await db.query('INSERT INTO segment_size_deltas (segment_id, delta) SELECT unnest($1::int[]), -1', [segmentIds]);
    const events = await db.query('DELETE FROM segment_membership_events WHERE customer_id = $1', [customerId]);
    const pending = await db.query('DELETE FROM customer_change_outbox WHERE customer_id = $1', [customerId]);
    // The recompute journal is short-lived, but holds ids too.
    await db.query('UPDATE segment_evaluations SET customer_ids = array_remove(customer_ids, $1) WHERE customer_ids @> ARRAY[$1]', [customerId]);
    const { rows } = await db.query<ErasureRecord>(
      `INSERT INTO customer_erasures (customer_hash, actor, memberships, events, pending_changes) VALUES ($1, $2, $3, $4, $5)
       RETURNING customer_hash AS "customerHash", erased_at AS "erasedAt", memberships, events, pending_changes AS "pendingChanges"`,
      [customerHash, actor, segmentIds.length, events.rowCount ?? 0, pending.rowCount ?? 0],
    );
    return { record: rows[0]!, segmentIds };
  }
}
