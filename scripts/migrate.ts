/**
 * npm run migrate: the deployment step before the roles start. Creates the
 * database if missing, applies pending migrations and sets the capture
 * triggers (ORDER_OUTBOX_TRIGGER), each DDL statement waiting for its lock at
 * most DDL_LOCK_TIMEOUT_MS. `npm start` does the same for the one-machine
 * default; `start:subgraph` and `start:worker` refuse an older schema.
 */
import { ConfigError, loadConfig } from '../src/platform/config.js';
import { prepareDatabase } from '../src/platform/prepare-database.js';

async function main() {
  const config = loadConfig();
  const { applied, triggers } = await prepareDatabase(config.databaseUrl, { orderOutboxTrigger: config.orderOutboxTrigger, lockTimeoutMs: config.ddlLockTimeoutMs });
  console.log(applied.length ? `applied ${applied.join(', ')}` : 'database is up to date');
  console.log(
    triggers === 'not-applicable'
      ? 'orders is not a table this role owns: no capture trigger; producers must add order.created jobs'
      : `capture triggers ${triggers}`,
  );
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) console.error(error.message);
  else if ((error as { code?: string }).code === '55P03') {
    console.error('A migration could not take its table lock within DDL_LOCK_TIMEOUT_MS (a long transaction holds it): nothing was half-applied; run npm run migrate again.');
  } else console.error(error);
  process.exit(1);
});
