import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { ADVISORY_LOCKS } from './advisory-locks.js';

/** A migration file: `NNNN_description.sql`, applied in order of its name. */
interface Migration {
  version: string;
  sql: string;
  checksum: string;
}

export class MigrationChecksumError extends Error {
  override name = 'MigrationChecksumError';
}

const MIGRATION_LOCK_KEY = ADVISORY_LOCKS.MIGRATIONS;

async function readMigrations(dir: string): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d+_[\w-]+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (file) => {
      const sql = await readFile(path.join(dir, file), 'utf8');
      return { version: file.replace(/\.sql$/, ''), sql, checksum: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

/**
 * Applies the migrations in `dir` that the database has not recorded yet, each
 * in its own transaction, and records them in `schema_migrations`. An advisory
 * lock serialises concurrent starts (subgraph and worker booting together).
 * Refuses to run when an applied migration's file has changed since, because
 * the database would no longer match what the files say.
 *
 * @returns the versions applied by this call
 */
export async function migrate(pool: pg.Pool, dir: string, options: { lockTimeoutMs?: number } = {}): Promise<string[]> {
  const migrations = await readMigrations(dir);
  const client = await pool.connect();
  try {
    // Waits for another process's migrations as long as they take; only the DDL below is bounded.
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version     text PRIMARY KEY,
        checksum    text NOT NULL,
        applied_at  timestamptz NOT NULL DEFAULT now()
      )`);
    const { rows } = await client.query<{ version: string; checksum: string }>(
      'SELECT version, checksum FROM schema_migrations',
    );
    const applied = new Map(rows.map((r) => [r.version, r.checksum]));
    const done: string[] = [];
    for (const migration of migrations) {
      const checksum = applied.get(migration.version);
      if (checksum !== undefined) {
        if (checksum !== migration.checksum) {
          throw new MigrationChecksumError(
            `migration ${migration.version} was changed after it was applied; add a new migration instead`,
          );
        }
        continue;
      }
      await client.query('BEGIN');
      try {
        // A DDL statement queued behind a long write transaction would hold every later writer of its table.
        if (options.lockTimeoutMs !== undefined) await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(options.lockTimeoutMs))}`);
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)', [
          migration.version,
          migration.checksum,
        ]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
      done.push(migration.version);
    }
    return done;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    client.release();
  }
}

/** The migrations in `dir` that the database has not recorded (all of them on an empty database). */
export async function pendingMigrations(db: pg.Pool, dir: string): Promise<string[]> {
  const migrations = await readMigrations(dir);
  const { rows: table } = await db.query<{ exists: boolean }>(`SELECT to_regclass('schema_migrations') IS NOT NULL AS exists`);
  const applied = new Set(table[0]?.exists ? (await db.query<{ version: string }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version) : []);
  return migrations.map((m) => m.version).filter((version) => !applied.has(version));
}
