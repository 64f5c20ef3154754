import { cp, mkdtemp, readdir, rm, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { migrationsDir } from '../../src/platform/paths.js';
import { migrate, MigrationChecksumError } from '../../src/stores/postgres/migrator.js';
import { createPool, ensureDatabase } from '../../src/stores/postgres/pool.js';
import { createTestNamespace, type TestNamespace } from '../helpers/test-environment.js';

/** The migrations this checkout ships, by the migrator's own naming rule. */
async function shippedMigrations(): Promise<string[]> {
  return (await readdir(migrationsDir)).filter((f) => /^\d+_[\w-]+\.sql$/.test(f)).map((f) => f.replace(/\.sql$/, '')).sort();
}

describe('migrations', () => {
  const opened: Array<{ namespace: TestNamespace; pools: pg.Pool[] }> = [];
  async function freshDatabase(poolCount = 1) {
    const namespace = createTestNamespace();
    await ensureDatabase(namespace.databaseUrl);
    const pools = Array.from({ length: poolCount }, () => createPool(namespace.databaseUrl, { max: 2 }));
    opened.push({ namespace, pools });
    return pools;
  }
  afterEach(async () => {
    for (const { namespace, pools } of opened.splice(0)) {
      await Promise.all(pools.map((p) => p.end()));
      await namespace.cleanup();
    }
  });

  it('creates the database when missing, and tolerates concurrent creators', async () => {
    const namespace = createTestNamespace();
    opened.push({ namespace, pools: [] });
    await Promise.all([ensureDatabase(namespace.databaseUrl), ensureDatabase(namespace.databaseUrl)]);
    const pool = createPool(namespace.databaseUrl, { max: 1 });
    opened[opened.length - 1]!.pools.push(pool);
    const { rows } = await pool.query('SELECT current_database() AS name');
    expect(rows[0].name).toMatch(/^segments_test_/);
  });

  it('applies every migration once, even when processes start together', async () => {
    const pools = await freshDatabase(3);
    const results = await Promise.all(pools.map((pool) => migrate(pool, migrationsDir)));
    const shipped = await shippedMigrations();
    expect(shipped.slice(0, 2)).toEqual(['0001_order_history', '0002_segments']);
    expect(results.flat().sort()).toEqual(shipped);
    expect(await migrate(pools[0]!, migrationsDir)).toEqual([]);

    const { rows } = await pools[0]!.query(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
    );
    expect(rows.map((r) => r.table_name)).toEqual([
      'customer_change_outbox',
      'customer_erasures',
      'customers',
      'evaluator_members',
      'membership_event_outbox',
      'membership_event_retention',
      'orders',
      'replication_heartbeat',
      'schema_migrations',
      'segment_create_requests',
      'segment_dependencies',
      'segment_evaluations',
      'segment_history',
      'segment_membership_events',
      'segment_memberships',
      'segment_outbox',
      'segment_rule_revision',
      'segment_size_deltas',
      'segment_versions',
      'segments',
      'serving_reconcile_cursor',
    ]);
  });

  it('refuses to run when an applied migration file was edited', async () => {
    const [pool] = await freshDatabase();
    await migrate(pool!, migrationsDir);
    const edited = await mkdtemp(path.join(tmpdir(), 'migrations-'));
    try {
      await cp(migrationsDir, edited, { recursive: true });
      await appendFile(path.join(edited, '0002_segments.sql'), '\n-- edited after release\n');
      await expect(migrate(pool!, edited)).rejects.toBeInstanceOf(MigrationChecksumError);
    } finally {
      await rm(edited, { recursive: true });
    }
  });

  it('rolls back a failing migration and records nothing for it', async () => {
    const [pool] = await freshDatabase();
    const broken = await mkdtemp(path.join(tmpdir(), 'migrations-'));
    try {
      await cp(migrationsDir, broken, { recursive: true });
      await appendFile(path.join(broken, '9999_broken.sql'), 'CREATE TABLE half_done (id int);\nSELECT * FROM no_such_table;\n');
      await expect(migrate(pool!, broken)).rejects.toThrow(/no_such_table/);
      const { rows } = await pool!.query(`SELECT to_regclass('half_done') AS t, (SELECT count(*)::int FROM schema_migrations) AS n`);
      expect(rows[0]).toEqual({ t: null, n: (await shippedMigrations()).length });
    } finally {
      await rm(broken, { recursive: true });
    }
  });

  it("leaves order history that a deployment points at another team's data alone", async () => {
    const [pool] = await freshDatabase();
    await pool!.query(`
      CREATE TABLE replica_customers (id text, created_at timestamptz, country text, city text, attributes jsonb);
      CREATE TABLE replica_orders (id text, customer_id text, store_id text, total_cents bigint, created_at timestamptz);
      CREATE VIEW customers AS SELECT * FROM replica_customers;
      CREATE VIEW orders AS SELECT * FROM replica_orders;
    `);
    await migrate(pool!, migrationsDir);
    const { rows } = await pool!.query(
      `SELECT relname, relkind FROM pg_class WHERE relname IN ('customers', 'orders') ORDER BY relname`,
    );
    expect(rows).toEqual([
      { relname: 'customers', relkind: 'v' },
      { relname: 'orders', relkind: 'v' },
    ]);
  });
});
