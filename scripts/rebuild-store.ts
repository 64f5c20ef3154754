/**
 * npm run rebuild-store: rewrites every Redis serving key from the
 * memberships in Postgres, in this process (no worker needed), and removes
 * keys Postgres does not back. Safe to run at any time and to repeat.
 */
import { ConfigError, loadConfig } from '../src/platform/config.js';
import { createLogger } from '../src/platform/logger.js';
import { workerStores } from '../src/pipeline/worker-stores.js';
import { prepareDatabase } from '../src/platform/prepare-database.js';
import { openStoreClients } from '../src/platform/store-clients.js';
import { rebuildServingStore } from '../src/pipeline/rebuild-serving-store.js';

async function main() {
  const config = loadConfig();
  await prepareDatabase(config.databaseUrl);
  const clients = openStoreClients(config, createLogger(config.logLevel));
  const stores = workerStores(clients);
  try {
    const started = Date.now();
    const result = await rebuildServingStore(stores.pool, stores.memberships, stores.servingStore);
    console.log(
      `rebuilt ${result.customersWritten} customers, removed ${result.staleKeysRemoved} stale keys in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  } finally {
    await clients.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
