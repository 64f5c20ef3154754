import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';

describe('the change capture triggers (ORDER_OUTBOX_TRIGGER)', () => {
  let stores: TestStores;
  let n = 0;
  const insertOrder = (db: { query: pg.Pool['query'] } = stores.pool) =>
    db.query(`INSERT INTO orders (id, customer_id, store_id, total_cents) VALUES ($1, 'c-1', 's-1', 100)`, [`o-${++n}`]);
  const outbox = async () =>
    (await stores.pool.query<{ customer_id: string; store_ids: string[] | null }>('SELECT customer_id, store_ids FROM customer_change_outbox ORDER BY id')).rows;
  const writerRole = `order_writer_${process.pid}_${Date.now()}`;

  beforeAll(async () => {
    stores = await createTestStores();
  });
  afterAll(async () => {
    await stores?.pool.query(`DROP OWNED BY ${writerRole}; DROP ROLE IF EXISTS ${writerRole}`).catch(() => undefined);
    await stores?.dispose();
  });

  it('records one row per customer and statement, with the stores whose orders changed', async () => {
    await insertOrder();
    await stores.pool.query(
      `INSERT INTO orders (id, customer_id, store_id, total_cents) SELECT 'bulk-' || i, 'c-2', 's-' || (i % 2), 100 FROM generate_series(1, 3) i`,
    );
    expect(await outbox()).toEqual([
      { customer_id: 'c-1', store_ids: ['s-1'] },
      { customer_id: 'c-2', store_ids: ['s-0', 's-1'] },
    ]);
  });

  it('records updates (both sides of a move) and deletions of orders, and every change of a customer row with the columns it changed', async () => {
    await stores.pool.query('TRUNCATE customer_change_outbox');
    await stores.pool.query(`UPDATE orders SET store_id = 's-9', customer_id = 'c-3' WHERE id = 'bulk-1'`);
    await stores.pool.query(`DELETE FROM orders WHERE id = 'bulk-2'`);
    await stores.pool.query(`INSERT INTO customers (id, country) VALUES ('c-7', 'DE')`);
    await stores.pool.query(`UPDATE customers SET city = 'Berlin' WHERE id = 'c-7'`);
    // Nothing changed: nothing to evaluate.
    await stores.pool.query(`UPDATE customers SET city = city, attributes = attributes WHERE id = 'c-7'`);
    await stores.pool.query(`UPDATE customers SET country = 'FR', attributes = '{"tier": "gold"}' WHERE id = 'c-7'`);
    await stores.pool.query(`UPDATE customers SET attributes = '{"tier": "gold", "age": 30}' WHERE id = 'c-7'`);
    // A changed id: the old and the new customer count for every segment.
    await stores.pool.query(`UPDATE customers SET id = 'c-8' WHERE id = 'c-7'`);
    await stores.pool.query(`DELETE FROM customers WHERE id = 'c-8'`);
    const { rows } = await stores.pool.query('SELECT customer_id, store_ids, fields FROM customer_change_outbox ORDER BY id');
    // The two rows of the changed id come from one statement, in no particular order.
    rows.splice(7, 2, ...rows.slice(7, 9).sort((a, b) => a.customer_id.localeCompare(b.customer_id)));
    expect(rows).toEqual([
      { customer_id: 'c-2', store_ids: ['s-1'], fields: null },
      { customer_id: 'c-3', store_ids: ['s-9'], fields: null },
      { customer_id: 'c-2', store_ids: ['s-0'], fields: null },
      { customer_id: 'c-7', store_ids: null, fields: null },
      { customer_id: 'c-7', store_ids: null, fields: ['city'] },
      { customer_id: 'c-7', store_ids: null, fields: ['country', 'attributes.tier'] },
      { customer_id: 'c-7', store_ids: null, fields: ['attributes.age'] },
      { customer_id: 'c-7', store_ids: null, fields: null },
      { customer_id: 'c-8', store_ids: null, fields: null },
      { customer_id: 'c-8', store_ids: null, fields: null },
    ]);
  });

  it('records the creation time of the newest order changed, the old and the new row of an update both', async () => {
    await stores.pool.query('TRUNCATE customer_change_outbox');
    await stores.pool.query(
      `INSERT INTO orders (id, customer_id, store_id, total_cents, created_at) VALUES
         ('t-1', 'c-5', 's-1', 100, '2025-03-01T10:00:00.123456Z'), ('t-2', 'c-5', 's-2', 100, '2025-01-01T00:00:00Z')`,
    );
    // Moved back in time: the old row is the newer one.
    await stores.pool.query(`UPDATE orders SET created_at = '2024-01-01T00:00:00Z' WHERE id = 't-1'`);
    // Moved forward: the new row is.
    await stores.pool.query(`UPDATE orders SET created_at = '2025-06-01T00:00:00Z' WHERE id = 't-2'`);
    await stores.pool.query(`DELETE FROM orders WHERE id = 't-1'`);
    const { rows } = await stores.pool.query(`SELECT customer_id, store_ids, (newest_order_at AT TIME ZONE 'UTC')::text AS at FROM customer_change_outbox ORDER BY id`);
    expect(rows).toEqual([
      { customer_id: 'c-5', store_ids: ['s-1', 's-2'], at: '2025-03-01 10:00:00.123456' },
      { customer_id: 'c-5', store_ids: ['s-1'], at: '2025-03-01 10:00:00.123456' },
      { customer_id: 'c-5', store_ids: ['s-2'], at: '2025-06-01 00:00:00' },
      { customer_id: 'c-5', store_ids: ['s-1'], at: '2024-01-01 00:00:00' },
    ]);
  });

  it('never fails a writer that has no rights on the outbox, and never NOTIFYs', async () => {
    await stores.pool.query('TRUNCATE customer_change_outbox');
    await stores.pool.query(`CREATE ROLE ${writerRole} LOGIN`);
    await stores.pool.query(`GRANT INSERT, UPDATE, DELETE, SELECT ON orders TO ${writerRole}`);
    const url = new URL(stores.namespace.databaseUrl);
    url.username = writerRole;
    const writer = new pg.Client({ connectionString: url.toString() });
    await writer.connect();
    try {
      // The writer cannot touch the outbox itself...
      await expect(writer.query('SELECT count(*) FROM customer_change_outbox')).rejects.toMatchObject({ code: '42501' });
      // ...nor plant an object the trigger would pick up through its search_path.
      await writer.query(`SET search_path = pg_temp, public`);
      await writer.query(`CREATE TEMP TABLE customer_change_outbox (customer_id text, store_ids text[])`);
      await writer.query('BEGIN');
      await insertOrder(writer);
      // Statement-level capture without NOTIFY: nothing queued for commit-time notification.
      const { rows } = await writer.query(`SELECT pg_notification_queue_usage() AS usage`);
      await writer.query('COMMIT');
      expect(rows[0].usage).toBe(0);
      expect((await writer.query('SELECT count(*)::int AS n FROM pg_temp.customer_change_outbox')).rows[0].n).toBe(0);
    } finally {
      await writer.end();
    }
    expect(await outbox()).toEqual([{ customer_id: 'c-1', store_ids: ['s-1'] }]);
  });

  it('stops when switched off, and resumes when switched on again', async () => {
    await stores.pool.query('TRUNCATE customer_change_outbox');
    expect(await stores.changeOutbox.setTriggers(false)).toBe('removed');
    await insertOrder();
    await stores.pool.query(`INSERT INTO customers (id) VALUES ('c-8')`);
    expect(await outbox()).toEqual([]);
    expect(await stores.changeOutbox.setTriggers(true)).toBe('installed');
    expect(await stores.changeOutbox.setTriggers(true)).toBe('installed');
    await insertOrder();
    expect(await outbox()).toHaveLength(1);
  });

  it('does nothing where orders is not a table of this database', async () => {
    await stores.pool.query(`ALTER TABLE orders RENAME TO replica_orders; CREATE VIEW orders AS SELECT * FROM replica_orders`);
    try {
      expect(await stores.changeOutbox.setTriggers(true)).toBe('not-applicable');
    } finally {
      await stores.pool.query(`DROP VIEW orders; ALTER TABLE replica_orders RENAME TO orders`);
    }
  });
});
