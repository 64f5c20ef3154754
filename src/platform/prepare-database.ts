import { migrationsDir } from './paths.js';
import { migrate } from '../stores/postgres/migrator.js';
import { createPool, ensureDatabase } from '../stores/postgres/pool.js';

/**
 * The deployment step before any role starts: creates the database when it is
 * missing and applies pending migrations, on a connection of its own that it
 * closes. Returns the names of the migrations it applied.
 */
export async function prepareDatabase(databaseUrl: string): Promise<string[]> {
  await ensureDatabase(databaseUrl);
  const pool = createPool(databaseUrl, { max: 1, applicationName: 'segments-migrate' });
  try {
    return await migrate(pool, migrationsDir);
  } finally {
    await pool.end();
  }
}
