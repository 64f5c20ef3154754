import type pg from 'pg';
import { inTransaction } from './queryable.js';

export interface OutboxOrder {
  orderId: string;
  customerId: string;
}

/** The channel the outbox trigger notifies on every insert into `orders`. */
export const ORDER_OUTBOX_CHANNEL = 'segments_order_outbox';

/** The order outbox filled by the trigger on `orders` (migration 0004). */
export class OrderOutboxRepository {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * Hands up to `limit` outbox rows, oldest first, to `deliver`, and deletes
   * them only when it resolves: a crash in between delivers them again (the
   * event path is idempotent). Concurrent relays take disjoint rows.
   * @returns how many rows were delivered
   */
  async drain(limit: number, deliver: (orders: OutboxOrder[]) => Promise<void>): Promise<number> {
    return inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<OutboxOrder & { id: string }>(
        `SELECT id, order_id AS "orderId", customer_id AS "customerId" FROM order_outbox
          ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [limit],
      );
      if (rows.length === 0) return 0;
      await deliver(rows.map(({ orderId, customerId }) => ({ orderId, customerId })));
      await client.query('DELETE FROM order_outbox WHERE id = ANY($1::bigint[])', [rows.map((r) => r.id)]);
      return rows.length;
    });
  }

  /**
   * Installs or removes the trigger that fills the outbox (ORDER_OUTBOX_TRIGGER).
   * Does nothing, and says so, where `orders` is not a table this role owns.
   */
  async setTrigger(enabled: boolean): Promise<'installed' | 'removed' | 'not-applicable'> {
    const { rows } = await this.pool.query(
      `SELECT 1 FROM pg_class WHERE oid = to_regclass('orders') AND relkind IN ('r', 'p') AND pg_has_role(relowner, 'MEMBER')`,
    );
    if (rows.length === 0) return 'not-applicable';
    if (enabled) {
      await this.pool.query(`CREATE OR REPLACE TRIGGER segments_order_outbox AFTER INSERT ON orders
        REFERENCING NEW TABLE AS inserted_orders FOR EACH STATEMENT EXECUTE FUNCTION segments_order_outbox()`);
      return 'installed';
    }
    await this.pool.query('DROP TRIGGER IF EXISTS segments_order_outbox ON orders');
    return 'removed';
  }
}
