import type pg from 'pg';
import { inTransaction, type Queryable } from './queryable.js';

/** One row of the change outbox: a customer whose data changed. */
export interface CustomerChange {
  customerId: string;
  /** Stores whose orders changed; null when the customer row changed or the order is unknown. */
  storeIds: string[] | null;
  /** Customer columns an update changed (`country`, `attributes.tier`, ...): only segments reading them. */
  fields: string[] | null;
  /** Segments to evaluate (time maintenance), instead of those the stores lead to. */
  segmentIds: number[] | null;
  /** Creation time of the newest order changed (microseconds, exact); null when unknown: any time. */
  newestOrderMicros: number | null;
  /** When the change was committed, to measure lag. */
  recordedAt: Date;
}

/** A claim: the changes taken, the database clock and the live rule set's revision when they were (null when none was). */
export interface ClaimedBatch {
  changes: CustomerChange[];
  asOf: Date | null;
  revision: string | null;
}

export interface ClaimLimits {
  /** Rows recorded within `freshWindowMs`, newest first: a fresh order never waits behind a backlog. */
  fresh: number;
  /** Rows taken oldest first besides the fresh ones: the backlog lane. */
  oldest: number;
  freshWindowMs: number;
  /** Only rows of these outbox partitions (those this evaluator holds); null for all. */
  partitions: readonly number[] | null;
}

/** An order announced on the order-events queue by a producer. */
export interface AnnouncedOrder {
  customerId: string;
  orderId: string;
  /**
   * The last look for this order: when it is still not found, its customer
   * is recorded all the same, for every segment. Otherwise an order not found
   * is left out, for the caller to announce again later.
   */
  finalAttempt: boolean;
}

const TRIGGERS = [
  { table: 'orders', name: 'segments_order_inserts', event: 'INSERT', referencing: 'NEW TABLE AS new_orders', fn: 'segments_capture_order_changes' },
  { table: 'orders', name: 'segments_order_updates', event: 'UPDATE', referencing: 'OLD TABLE AS old_orders NEW TABLE AS new_orders', fn: 'segments_capture_order_changes' },
  { table: 'orders', name: 'segments_order_deletes', event: 'DELETE', referencing: 'OLD TABLE AS old_orders', fn: 'segments_capture_order_changes' },
  { table: 'customers', name: 'segments_customer_inserts', event: 'INSERT', referencing: 'NEW TABLE AS new_customers', fn: 'segments_capture_customer_changes' },
  { table: 'customers', name: 'segments_customer_updates', event: 'UPDATE', referencing: 'OLD TABLE AS old_customers NEW TABLE AS new_customers', fn: 'segments_capture_customer_changes' },
  { table: 'customers', name: 'segments_customer_deletes', event: 'DELETE', referencing: 'OLD TABLE AS old_customers', fn: 'segments_capture_customer_changes' },
] as const;

/**
 * The change outbox (migration 0005): filled by the capture triggers on
 * `orders` and `customers`, by producers' order-events jobs and by time
 * maintenance; drained in batches by the evaluator.
 */
export class ChangeOutboxRepository {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * Takes a batch of changes out of the outbox inside the caller's
   * transaction: the rows are gone only if it commits, so a crash hands them
   * to the next claim. Fresh rows first (newest first), then the oldest;
   * only of the partitions the caller holds, so that evaluators never take
   * the same customer's changes.
   */
  async claim(db: Queryable, limits: ClaimLimits): Promise<ClaimedBatch> {
    const { rows } = await db.query<CustomerChange & { asOf: Date; revision: string }>(
      `WITH fresh AS (
         SELECT id FROM customer_change_outbox
          WHERE recorded_at > now() - make_interval(secs => $3::double precision / 1000)
            AND ($4::smallint[] IS NULL OR partition = ANY($4::smallint[]))
          ORDER BY recorded_at DESC LIMIT $1 FOR UPDATE SKIP LOCKED
       ), oldest AS (
         SELECT id FROM customer_change_outbox
          WHERE id NOT IN (SELECT id FROM fresh)
            AND ($4::smallint[] IS NULL OR partition = ANY($4::smallint[]))
          ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED
       ), claimed AS (
         DELETE FROM customer_change_outbox
          WHERE id IN (SELECT id FROM fresh UNION ALL SELECT id FROM oldest)
         RETURNING customer_id AS "customerId", store_ids AS "storeIds", fields, segment_ids AS "segmentIds", recorded_at AS "recordedAt",
                   floor(extract(epoch FROM newest_order_at) * 1000000)::float8 AS "newestOrderMicros"
       )
       -- In the same round trip: the clock (later than every claimed change's commit) and the live rule set's revision.
       SELECT claimed.*, now.at AS "asOf", now.revision
         FROM claimed, (SELECT clock_timestamp() AS at, (SELECT revision FROM segment_rule_revision) AS revision) now`,
      [limits.fresh, limits.oldest, limits.freshWindowMs, limits.partitions],
    );
    if (rows.length === 0) return { changes: [], asOf: null, revision: null };
    const { asOf, revision } = rows[0]!;
    const changes = rows.map(({ customerId, storeIds, fields, segmentIds, recordedAt, newestOrderMicros }) => ({
      customerId,
      storeIds,
      fields,
      segmentIds,
      recordedAt,
      newestOrderMicros,
    }));
    return { changes, asOf, revision };
  }

  /**
   * Records orders announced by producers (the order-events queue) in one
   * statement, with the stores of the orders found. An order not found (not
   * visible yet: replica lag, a producer announcing before its commit; or
   * deleted) is recorded only on its final attempt, and then makes its
   * customer's every segment count. Returns the ids of the orders not found.
   */
  async recordAnnouncedOrders(orders: readonly AnnouncedOrder[]): Promise<Set<string>> {
    if (orders.length === 0) return new Set();
    const { rows } = await this.pool.query<{ orderId: string }>(
      `WITH announced AS (
         SELECT a.customer_id, a.order_id, a.final_attempt, o.store_id, o.created_at, o.id IS NOT NULL AS found
           FROM unnest($1::text[], $2::text[], $3::boolean[]) AS a (customer_id, order_id, final_attempt)
           LEFT JOIN orders o ON o.id = a.order_id
       ), recorded AS (
         INSERT INTO customer_change_outbox (customer_id, store_ids, newest_order_at)
         SELECT customer_id, CASE WHEN bool_and(found) THEN array_agg(DISTINCT store_id) END, CASE WHEN bool_and(found) THEN max(created_at) END
           FROM announced WHERE found OR final_attempt
          GROUP BY customer_id
       )
       SELECT DISTINCT order_id AS "orderId" FROM announced WHERE NOT found`,
      [orders.map((o) => o.customerId), orders.map((o) => o.orderId), orders.map((o) => o.finalAttempt)],
    );
    return new Set(rows.map((r) => r.orderId));
  }

  /**
   * Asks the evaluator to re-evaluate `segmentIds` (and what reads them) for
   * these customers, inside the caller's transaction: the members of a STATIC
   * segment changed, and RULE segments read it through inSegment. An empty
   * store list marks the rows as data changes (cause `event`), not time passing.
   */
  async recordSegmentInputChanges(db: Queryable, customerIds: readonly string[], segmentIds: readonly number[]): Promise<void> {
    if (customerIds.length === 0 || segmentIds.length === 0) return;
    await db.query(
      `INSERT INTO customer_change_outbox (customer_id, store_ids, segment_ids) SELECT unnest($1::text[]), '{}', $2::int[]`,
      [customerIds, segmentIds],
    );
  }

  /**
   * Installs or removes the capture triggers (ORDER_OUTBOX_TRIGGER) on the
   * tables this role owns. Returns the tables changed, or 'not-applicable'
   * when it owns neither.
   */
  async setTriggers(enabled: boolean, options: { lockTimeoutMs?: number } = {}): Promise<'installed' | 'removed' | 'not-applicable'> {
    const { rows } = await this.pool.query<{ table: string }>(
      `SELECT t AS table FROM unnest(ARRAY['orders', 'customers']) AS t
        WHERE EXISTS (SELECT 1 FROM pg_class WHERE oid = to_regclass(t) AND relkind IN ('r', 'p') AND pg_has_role(relowner, 'MEMBER'))`,
    );
    const owned = new Set(rows.map((r) => r.table));
    if (!owned.has('orders')) return 'not-applicable';
    // Each statement takes its table's lock; a bounded wait keeps it from queueing every writer behind a long transaction.
    const lockTimeoutMs = options.lockTimeoutMs;
    for (const t of TRIGGERS.filter((t) => owned.has(t.table))) {
      const ddl = enabled
        ? `CREATE OR REPLACE TRIGGER ${t.name} AFTER ${t.event} ON ${t.table} REFERENCING ${t.referencing}
             FOR EACH STATEMENT EXECUTE FUNCTION ${t.fn}()`
        : `DROP TRIGGER IF EXISTS ${t.name} ON ${t.table}`;
      await inTransaction(this.pool, async (client) => {
        if (lockTimeoutMs !== undefined) await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(lockTimeoutMs))}`);
        await client.query(ddl);
      });
    }
    return enabled ? 'installed' : 'removed';
  }
}
