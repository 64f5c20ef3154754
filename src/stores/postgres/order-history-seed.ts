import type pg from 'pg';

export interface SeedOptions {
  customers: number;
  orders: number;
  /** @defaultValue 500 */
  stores?: number;
  /** Makes the data reproducible: same options and seed, same rows. @defaultValue 0.42 */
  seed?: number;
}

export interface SeedProgress {
  step: string;
  /** Rows written, for steps that write rows. */
  rows: number | null;
  ms: number;
}

// Orders are written in statements of this many rows, to report progress and
// keep each transaction's footprint modest.
const ORDER_CHUNK = 1_000_000;

/**
 * Replaces `customers` and `orders` with realistic synthetic history, entirely
 * in set-based SQL:
 * - stores with Zipf-like popularity (a few stores take most orders);
 * - about a fifth of customers with no orders at all;
 * - every other customer has at least one order, and order counts are skewed
 *   (a few heavy customers, a long tail of occasional ones);
 * - two years of history: customers sign up over two years and order between
 *   sign-up and now.
 * Indexes on `orders` are dropped during the load and rebuilt after it, which
 * is several times faster than maintaining them row by row.
 */
export async function seedOrderHistory(
  pool: pg.Pool,
  options: SeedOptions,
  onProgress: (progress: SeedProgress) => void = () => undefined,
): Promise<void> {
  const stores = options.stores ?? 500;
  const client = await pool.connect();
  const timed = async (step: string, sql: string, params: unknown[] = []) => {
    const started = Date.now();
    const result = await client.query(sql, params);
    onProgress({ step, rows: result.command === 'INSERT' ? result.rowCount : null, ms: Date.now() - started });
  };
  try {
    // One transaction: a failed or interrupted seed leaves the old data as it was.
    await client.query('BEGIN');
    await client.query(`SET LOCAL synchronous_commit = off; SET LOCAL maintenance_work_mem = '512MB'; SET LOCAL work_mem = '256MB'`);
    await client.query('SELECT setseed($1)', [options.seed ?? 0.42]);
    await client.query('TRUNCATE customers, orders');
    // A bulk load is not a stream of changes: keep the capture triggers out of
    // it (full recomputes compute the segments from what it loaded).
    await client.query('ALTER TABLE orders DISABLE TRIGGER USER');
    await client.query('ALTER TABLE customers DISABLE TRIGGER USER');
    const { rows: indexes } = await client.query<{ name: string; definition: string }>(
      `SELECT indexname AS name, indexdef AS definition FROM pg_indexes
        WHERE schemaname = current_schema() AND tablename = 'orders' AND indexname NOT LIKE '%_pkey'`,
    );
    for (const index of indexes) await client.query(`DROP INDEX ${client.escapeIdentifier(index.name)}`);

    // A customer's sign-up time is a function of its number, so the same
    // expression can be used wherever it is needed.
    await timed(
      'customers',
      `INSERT INTO customers (id, created_at, country, city, attributes)
       SELECT 'cust-' || lpad(i::text, 8, '0'),
              now() - interval '730 days' * ((i::bigint * 2654435761) % 1000003) / 1000003.0,
              (ARRAY['DE','DE','DE','FR','FR','ES','IT','PL'])[1 + (i % 8)],
              (ARRAY['Berlin','Hamburg','Munich','Paris','Lyon','Madrid','Milan','Warsaw'])[1 + (i % 8)],
              jsonb_build_object(
                'tier', (ARRAY['bronze','bronze','bronze','silver','silver','gold'])[1 + floor(random() * 6)::int],
                'platform', (ARRAY['ios','android','web'])[1 + floor(random() * 3)::int],
                'marketingOptIn', random() < 0.6)
         FROM generate_series(1, $1::int) AS i`,
      [options.customers],
    );

    // Customers who order, ranked at random; low ranks will order most. A
    // fifth of customers (by a hash of their number) never order.
    await client.query(`
      CREATE TEMP TABLE seed_orderers ON COMMIT DROP AS
      SELECT row_number() OVER (ORDER BY random()) AS rank, id, created_at
        FROM customers
       WHERE (substr(id, 6)::bigint * 2654435761) % 100 >= 20;
      ALTER TABLE seed_orderers ADD PRIMARY KEY (rank);
      ANALYZE seed_orderers`);
    const { rows } = await client.query<{ count: number }>('SELECT count(*)::int AS count FROM seed_orderers');
    const orderers = rows[0]!.count;

    // The rank is drawn in a subquery: a volatile expression in the join
    // condition itself would be re-drawn for every candidate row.
    const insertOrders = (rank: string) => `
      INSERT INTO orders (id, customer_id, store_id, total_cents, created_at)
      SELECT 'ord-' || lpad(g.n::text, 10, '0'), o.id,
             'store-' || lpad((1 + floor($3::int * power(random(), 2.5)))::int::text, 5, '0'),
             300 + floor(power(random(), 2) * 9700)::bigint,
             o.created_at + (now() - o.created_at) * random()
        FROM (SELECT n, ${rank} AS rank FROM generate_series($1::bigint, $2::bigint) AS n) AS g
        JOIN seed_orderers o ON o.rank = g.rank`;
    // Every ordering customer gets a first order; the rest go by skewed rank.
    const firstOrders = Math.min(orderers, options.orders);
    await timed('orders: one per ordering customer', insertOrders('n'), [1, firstOrders, stores]);
    for (let start = firstOrders + 1; start <= options.orders; start += ORDER_CHUNK) {
      const end = Math.min(options.orders, start + ORDER_CHUNK - 1);
      await timed(`orders ${start}-${end}`, insertOrders('1 + floor($4::bigint * power(random(), 3))::bigint'), [
        start,
        end,
        stores,
        orderers,
      ]);
    }
    for (const index of indexes) await timed(`index ${index.name}`, index.definition);
    await client.query('ALTER TABLE orders ENABLE TRIGGER USER');
    await client.query('ALTER TABLE customers ENABLE TRIGGER USER');
    await client.query('COMMIT');
    // VACUUM, not only ANALYZE: it sets the visibility map, without which the
    // covering indexes cannot serve index-only scans and every evaluation
    // visits the heap (docs/pipeline.md "Postgres settings for a busy `orders` table").
    await timed('vacuum (analyze)', 'VACUUM (ANALYZE) customers, orders');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
