import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';

describe('the order outbox trigger switch (ORDER_OUTBOX_TRIGGER)', () => {
  let stores: TestStores;
  let n = 0;
  const insertOrder = () =>
    stores.pool.query(`INSERT INTO orders (id, customer_id, store_id, total_cents) VALUES ($1, 'c-1', 's-1', 100)`, [`o-${++n}`]);
  const outbox = async () => (await stores.pool.query('SELECT count(*)::int AS n FROM order_outbox')).rows[0].n;

  beforeAll(async () => {
    stores = await createTestStores();
  });
  afterAll(async () => {
    await stores?.dispose();
  });

  it('fills the outbox from every insert by default, one row per order, even in one statement', async () => {
    await insertOrder();
    await stores.pool.query(`INSERT INTO orders (id, customer_id, store_id, total_cents) SELECT 'bulk-' || i, 'c-2', 's-1', 100 FROM generate_series(1, 3) i`);
    expect(await outbox()).toBe(4);
  });

  it('stops when switched off, and resumes when switched on again', async () => {
    expect(await stores.orderOutbox.setTrigger(false)).toBe('removed');
    await insertOrder();
    expect(await outbox()).toBe(4);
    expect(await stores.orderOutbox.setTrigger(true)).toBe('installed');
    expect(await stores.orderOutbox.setTrigger(true)).toBe('installed');
    await insertOrder();
    expect(await outbox()).toBe(5);
  });

  it('does nothing where orders is not a table of this database', async () => {
    await stores.pool.query(`ALTER TABLE orders RENAME TO replica_orders; CREATE VIEW orders AS SELECT * FROM replica_orders`);
    try {
      expect(await stores.orderOutbox.setTrigger(true)).toBe('not-applicable');
    } finally {
      await stores.pool.query(`DROP VIEW orders; ALTER TABLE replica_orders RENAME TO orders`);
    }
  });
});
