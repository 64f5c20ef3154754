/**
 * npm run migrate: creates the database if missing and applies pending
 * migrations. The service does this on start too; this is for deploy
 * pipelines that migrate before rolling out.
 */
import { ConfigError, loadConfig } from '../src/platform/config.js';
import { prepareDatabase } from '../src/platform/prepare-database.js';

async function main() {
  const config = loadConfig();
  const applied = await prepareDatabase(config.databaseUrl);
  console.log(applied.length ? `applied ${applied.join(', ')}` : 'database is up to date');
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
