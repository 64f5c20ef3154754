/**
 * npm run rebuild-store: rewrites every Redis serving key from the
 * memberships in Postgres, in this process (no worker needed), and removes
 * keys Postgres does not back. Safe to run at any time and to repeat.
 */
import { ConfigError, loadConfig } from '../src/platform/config.js';
import { createLogger } from '../src/platform/logger.js';
import { createStores } from '../src/platform/create-stores.js';
import { rebuildServingStore } from '../src/pipeline/rebuild-serving-store.js';

async function main() {
  const config = loadConfig();
  const stores = await createStores(config, createLogger(config.logLevel));
  try {
    const started = Date.now();
    const result = await rebuildServingStore(stores.pool, stores.memberships, stores.servingStore);
    console.log(
      `rebuilt ${result.customersWritten} customers, removed ${result.staleKeysRemoved} stale keys in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  } finally {
    await stores.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
