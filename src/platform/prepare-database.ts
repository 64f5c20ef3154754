import type pg from 'pg';
import { migrationsDir } from './paths.js';
import { ChangeOutboxRepository } from '../stores/postgres/change-outbox-repository.js';
import { migrate, pendingMigrations } from '../stores/postgres/migrator.js';
import { createPool, ensureDatabase } from '../stores/postgres/pool.js';

/** How the migration step changes the schema. */
export interface PrepareDatabaseOptions {
  /**
   * Install the capture triggers on `orders` and `customers` (config
   * ORDER_OUTBOX_TRIGGER), or remove them. @defaultValue true
   */
  orderOutboxTrigger?: boolean;
  /**
   * How long each DDL statement may wait for its table lock. A statement that
   * waits behind a long write transaction makes every later writer of that
   * table wait behind it; this bounds that, and the step fails instead (run it
   * again). @defaultValue DEFAULT_DDL_LOCK_TIMEOUT_MS
   */
  lockTimeoutMs?: number;
}

export const DEFAULT_DDL_LOCK_TIMEOUT_MS = 5_000;

export interface PreparedDatabase {
  /** The migrations this step applied. */
  applied: string[];
  /** What it did with the capture triggers; 'not-applicable' when this role owns no `orders` table. */
  triggers: 'installed' | 'removed' | 'not-applicable';
}

/** A role started against a schema older than its code. */
export class SchemaOutOfDateError extends Error {
  override name = 'SchemaOutOfDateError';
}

/**
 * The deployment step before any role starts (`npm run migrate`, and `npm
 * start` for the one-machine default): creates the database when it is
 * missing, applies pending migrations and sets the capture triggers, on a
 * connection of its own that it closes. Every DDL statement waits for its
 * lock at most `lockTimeoutMs`.
 */
export async function prepareDatabase(databaseUrl: string, options: PrepareDatabaseOptions = {}): Promise<PreparedDatabase> {
  const lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_DDL_LOCK_TIMEOUT_MS;
  await ensureDatabase(databaseUrl);
  const pool = createPool(databaseUrl, { max: 1, applicationName: 'segments-migrate' });
  try {
    const applied = await migrate(pool, migrationsDir, { lockTimeoutMs });
    const triggers = await new ChangeOutboxRepository(pool).setTriggers(options.orderOutboxTrigger ?? true, { lockTimeoutMs });
    return { applied, triggers };
  } finally {
    await pool.end();
  }
}

/**
 * Refuses a schema older than this build: the roles started apart
 * (`start:subgraph`, `start:worker`) never migrate, so a missing migration
 * means `npm run migrate` has not run for this version yet. A newer schema
 * (migrations this build does not know) is accepted: during a rolling deploy
 * the old processes run on the new schema until they are replaced.
 */
export async function assertSchemaCurrent(pool: pg.Pool): Promise<void> {
  const missing = await pendingMigrations(pool, migrationsDir);
  if (missing.length > 0) {
    throw new SchemaOutOfDateError(
      `The database schema is older than this build: ${missing.length} migration${missing.length > 1 ? 's' : ''} not applied (${missing.join(', ')}). Run \`npm run migrate\` first.`,
    );
  }
}
