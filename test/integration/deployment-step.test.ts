import { spawn } from 'node:child_process';
import { once } from 'node:events';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { freePort } from '../../scripts/free-port.js';
import { ensureDatabase } from '../../src/stores/postgres/pool.js';
import { spawnService } from '../helpers/service-process.js';
import { createTestNamespace, TEST_REDIS_URL, type TestNamespace } from '../helpers/test-environment.js';

const ROOT = new URL('../../', import.meta.url).pathname;

/** `npm run migrate` as a deploy pipeline runs it; resolves with its exit code and output. */
async function npmMigrate(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn('npm', ['run', '--silent', 'migrate'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, output };
}

describe('the migration step (npm run migrate) and the roles started apart', () => {
  let namespace: TestNamespace;
  const env = () => ({ DATABASE_URL: namespace.databaseUrl, REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: namespace.redisPrefix, LOG_LEVEL: 'info', NODE_ENV: 'development' });
  const query = async <T extends pg.QueryResultRow>(text: string): Promise<T[]> => {
    const client = new pg.Client({ connectionString: namespace.databaseUrl });
    await client.connect();
    try {
      return (await client.query<T>(text)).rows;
    } finally {
      await client.end();
    }
  };

  afterEach(async () => {
    await namespace?.cleanup();
  });

  it('start:subgraph and start:worker refuse a schema older than their build, and start once npm run migrate ran', async () => {
    namespace = createTestNamespace();
    await ensureDatabase(namespace.databaseUrl);
    for (const role of ['subgraph', 'worker'] as const) {
      const service = spawnService(role, { ...env(), PORT: String(await freePort()), WORKER_PORT: String(await freePort()) });
      expect(await service.exited).toBe(1);
      expect(service.output()).toMatch(/The database schema is older than this build: \d+ migrations not applied \(0001_order_history, .*\)\. Run `npm run migrate` first\./);
    }
    // They changed nothing: the schema is still empty.
    expect(await query(`SELECT to_regclass('schema_migrations') AS t`)).toEqual([{ t: null }]);

    const migrated = await npmMigrate(env());
    expect(migrated.code).toBe(0);
    expect(migrated.output).toMatch(/^applied 0001_order_history, /m);
    expect(migrated.output).toContain('capture triggers installed');
    expect((await npmMigrate(env())).output).toContain('database is up to date');

    const worker = spawnService('worker', { ...env(), WORKER_PORT: String(await freePort()) });
    try {
      await vi.waitFor(() => expect(worker.output()).toContain('workers started'), { timeout: 30_000, interval: 200 });
    } finally {
      expect(await worker.stop()).toBe(0);
    }
  }, 90_000);

  it('waits for a table lock at most DDL_LOCK_TIMEOUT_MS, then fails whole and can be run again', async () => {
    namespace = createTestNamespace();
    expect((await npmMigrate(env())).code).toBe(0);
    // A long write transaction on orders: the trigger DDL's lock conflicts with the writer's.
    const writer = new pg.Client({ connectionString: namespace.databaseUrl });
    await writer.connect();
    try {
      await writer.query('BEGIN');
      await writer.query(`INSERT INTO customers (id, created_at) VALUES ('c-lock', now())`);
      await writer.query(`INSERT INTO orders (id, customer_id, store_id, total_cents, created_at) VALUES ('o-lock', 'c-lock', 's-1', 100, now())`);

      const blocked = await npmMigrate({ ...env(), DDL_LOCK_TIMEOUT_MS: '300' });
      expect(blocked.code).toBe(1);
      expect(blocked.output).toContain('could not take its table lock within DDL_LOCK_TIMEOUT_MS');
      // The writer was never cancelled, and goes on to commit.
      await writer.query('COMMIT');
    } finally {
      await writer.end();
    }
    expect(await query(`SELECT id FROM orders`)).toEqual([{ id: 'o-lock' }]);
    const again = await npmMigrate({ ...env(), DDL_LOCK_TIMEOUT_MS: '300' });
    expect(again.code).toBe(0);
    expect(again.output).toContain('capture triggers installed');
  }, 90_000);
});
