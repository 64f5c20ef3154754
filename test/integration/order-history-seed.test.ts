import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedOrderHistory, type SeedProgress } from '../../src/stores/postgres/order-history-seed.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';

describe('seedOrderHistory', () => {
  let stores: TestStores;
  const progress: SeedProgress[] = [];

  beforeAll(async () => {
    stores = await createTestStores();
    await stores.pool.query(`INSERT INTO customers (id) VALUES ('left-over')`);
    await seedOrderHistory(stores.pool, { customers: 5000, orders: 60_000, stores: 50 }, (p) => progress.push(p));
  });
  afterAll(async () => {
    await stores?.dispose();
  });

  const one = async (sql: string) => (await stores.pool.query(sql)).rows[0];

  it('replaces the tables with exactly the requested numbers of rows', async () => {
    expect(await one(`SELECT (SELECT count(*)::int FROM customers) AS customers, (SELECT count(*)::int FROM orders) AS orders`)).toEqual({
      customers: 5000,
      orders: 60_000,
    });
    expect(progress.map((p) => p.step)).toContain('customers');
  });

  it('leaves about a fifth of customers without any order', async () => {
    const { without } = await one(
      `SELECT count(*)::int AS without FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id)`,
    );
    expect(without).toBe(1000);
  });

  it('places every order with an existing customer, after sign-up, within two years', async () => {
    expect(
      await one(`
        SELECT count(*) FILTER (WHERE c.id IS NULL)::int AS orphans,
               count(*) FILTER (WHERE o.created_at < c.created_at)::int AS before_signup,
               count(*) FILTER (WHERE o.created_at < now() - interval '731 days' OR o.created_at > now())::int AS outside
          FROM orders o LEFT JOIN customers c ON c.id = o.customer_id`),
    ).toEqual({ orphans: 0, before_signup: 0, outside: 0 });
    const { span } = await one(`SELECT extract(day FROM max(created_at) - min(created_at))::int AS span FROM orders`);
    expect(span).toBeGreaterThan(600);
  });

  it('skews store popularity and order frequency', async () => {
    const stores_ = await stores.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM orders GROUP BY store_id ORDER BY n DESC`,
    );
    const counts = stores_.rows.map((r) => r.n);
    expect(counts[0]!).toBeGreaterThan(10 * counts[Math.floor(counts.length / 2)]!);

    const { heavy_share } = await one(`
      SELECT (sum(n) FILTER (WHERE r <= 0.1 * total))::float / sum(n) AS heavy_share
        FROM (SELECT count(*) AS n, row_number() OVER (ORDER BY count(*) DESC) AS r, count(*) OVER () AS total
                FROM orders GROUP BY customer_id) t`);
    // The top tenth of ordering customers place far more than a tenth of orders.
    expect(heavy_share).toBeGreaterThan(0.3);
  });

  it('keeps the order indexes the migrations created', async () => {
    const { rows } = await stores.pool.query(`SELECT indexname FROM pg_indexes WHERE tablename = 'orders' ORDER BY 1`);
    expect(rows.map((r) => r.indexname)).toEqual([
      'orders_created_at_idx',
      'orders_customer_id_created_at_idx',
      'orders_pkey',
      'orders_store_id_created_at_idx',
    ]);
  });
});
