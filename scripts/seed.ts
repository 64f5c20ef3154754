/**
 * npm run seed -- --customers 1000000 --orders 10000000 [--stores 500] [--seed 0.42]
 *
 * Replaces the order-history tables of DATABASE_URL with synthetic data (see
 * seedOrderHistory), then asks for a recompute of every live RULE segment
 * (through the admin outbox, as recomputeSegment does): their memberships
 * were computed from the orders that were there before. The workers carry the
 * recomputes out when they run. Meant for development and benchmarks, never
 * production.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../src/platform/config.js';
import { migrationsDir } from '../src/platform/paths.js';
import { migrate } from '../src/stores/postgres/migrator.js';
import { seedOrderHistory } from '../src/stores/postgres/order-history-seed.js';
import { createPool, ensureDatabase } from '../src/stores/postgres/pool.js';
import { SegmentOutboxRepository } from '../src/stores/postgres/segment-outbox-repository.js';

function count(name: string, value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value.replaceAll('_', ''));
  if (!Number.isInteger(n) || n < 0 || n > max) throw new ConfigError(`--${name} must be a whole number from 0 to ${max} (got ${JSON.stringify(value)})`);
  return n;
}

async function main() {
  const { values } = parseArgs({
    options: {
      customers: { type: 'string' },
      orders: { type: 'string' },
      stores: { type: 'string' },
      seed: { type: 'string' },
    },
  });
  const options = {
    customers: count('customers', values.customers, 10_000, 99_999_999),
    orders: count('orders', values.orders, 100_000, 9_999_999_999),
    stores: count('stores', values.stores, 500, 99_999),
    seed: values.seed === undefined ? 0.42 : Number(values.seed),
  };
  if (!(options.seed >= -1 && options.seed <= 1)) throw new ConfigError('--seed must be a number from -1 to 1');
  if (options.stores < 1) throw new ConfigError('--stores must be at least 1');

  const config = loadConfig();
  await ensureDatabase(config.databaseUrl);
  const pool = createPool(config.databaseUrl, { max: 1, applicationName: 'segments-seed' });
  try {
    await migrate(pool, migrationsDir);
    const started = Date.now();
    console.log(`seeding ${options.customers} customers, ${options.orders} orders, ${options.stores} stores`);
    await seedOrderHistory(pool, options, ({ step, rows, ms }) =>
      console.log(`  ${step}: ${rows === null ? '' : `${rows} rows `}in ${(ms / 1000).toFixed(1)} s`),
    );
    const { rows } = await pool.query<{ id: number }>(`SELECT id FROM segments WHERE kind = 'RULE' AND status = 'ACTIVE' ORDER BY id`);
    await new SegmentOutboxRepository(pool).record(pool, rows.map(({ id }) => ({ segmentId: id, effect: 'recompute' as const })));
    console.log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    console.log(
      rows.length === 0
        ? 'no RULE segment yet: a segment created from now on is computed over these orders'
        : `asked for a recompute of ${rows.length} live RULE segment${rows.length === 1 ? '' : 's'}: the workers (npm start) compute them over these orders`,
    );
  } finally {
    await pool.end();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
