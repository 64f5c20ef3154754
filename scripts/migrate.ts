/**
 * npm run migrate: creates the database if missing and applies pending
 * migrations. The service does this on start too; this is for deploy
 * pipelines that migrate before rolling out.
 */
import { ConfigError, loadConfig } from '../src/platform/config.js';
import { migrationsDir } from '../src/platform/paths.js';
import { migrate } from '../src/stores/postgres/migrator.js';
import { createPool, ensureDatabase } from '../src/stores/postgres/pool.js';

async function main() {
  const config = loadConfig();
  await ensureDatabase(config.databaseUrl);
  const pool = createPool(config.databaseUrl, { max: 1, applicationName: 'segments-migrate' });
  try {
    const applied = await migrate(pool, migrationsDir);
    console.log(applied.length ? `applied ${applied.join(', ')}` : 'database is up to date');
  } finally {
    await pool.end();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
