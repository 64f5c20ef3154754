import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/free-port.js';
import { createTestNamespace, TEST_REDIS_URL, type TestNamespace } from '../helpers/test-environment.js';

const ROOT = new URL('../../', import.meta.url).pathname;

/** The tour's shell blocks, in order, exactly as README.md shows them. */
function tourScript(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## A ten-minute tour\n');
  const end = readme.indexOf('\n## ', start + 1);
  if (start < 0 || end < 0) throw new Error('README.md has no "A ten-minute tour" section');
  const blocks = [...readme.slice(start, end).matchAll(/```sh\n([\s\S]*?)```/g)].map(([, body]) => body!);
  if (blocks.length === 0) throw new Error('the tour has no sh blocks');
  return blocks.join('\n');
}

interface TourRun {
  pid: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the tour as a newcomer would paste it into one bash shell, from the
 * repository's root, with a database, a Redis prefix and ports of its own.
 * The shell is the leader of its own process group, so whatever the tour
 * left running is killed with it.
 */
async function runTour(env: Record<string, string>, timeoutMs: number): Promise<TourRun> {
  const child = spawn('bash', ['-e', '-c', tourScript()], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => killGroup(child.pid!), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { pid: child.pid!, code, stdout, stderr };
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // the group has already ended
  }
}

describe('the README tour, run as written', () => {
  let namespace: TestNamespace;
  let pool: pg.Pool;
  let scratch: string;
  let run: TourRun;

  beforeAll(async () => {
    namespace = createTestNamespace();
    scratch = mkdtempSync(join(tmpdir(), 'segments-tour-'));
    const env: Record<string, string> = {
      DATABASE_URL: namespace.databaseUrl,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_PREFIX: namespace.redisPrefix,
      PORT: String(await freePort()),
      SUPERGRAPH_PORT: String(await freePort()),
      CUSTOMERS_PORT: String(await freePort()),
      TMPDIR: scratch,
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
    };
    // Settings of the developer's own shell would change what the tour does.
    for (const name of ['JWT_JWKS_URL', 'JWT_ISSUER', 'JWT_AUDIENCE', 'ROUTER_SHARED_SECRET', 'ROUTER_ONLY_NETWORK', 'METRICS_PORT', 'SUPERGRAPH_SEGMENTS_URL', 'SUPERGRAPH_CUSTOMERS_URL', 'ORDER_OUTBOX_TRIGGER']) {
      env[name] = '';
    }
    run = await runTour(env, 240_000);
    // The tour ends with `kill %1 %2`: give the service its graceful stop, then end whatever is left.
    for (let waited = 0; waited < 30_000 && !readLog('segments.log').includes('"msg":"stopped"'); waited += 200) await sleep(200);
    killGroup(run.pid);
    pool = new pg.Pool({ connectionString: namespace.databaseUrl });
  }, 260_000);

  afterAll(async () => {
    await pool?.end();
    await namespace?.cleanup();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  /** The answers the tour printed, in order: one JSON line per query it shows. */
  function answers(): Array<{ data?: any; errors?: unknown }> {
    return run.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line));
  }

  it('runs to the end and stops what it started', () => {
    const logs = () => `stdout:\n${run.stdout}\nstderr:\n${run.stderr}\nservice log:\n${readLog('segments.log')}\nsupergraph log:\n${readLog('supergraph.log')}`;
    expect(run.code, logs()).toBe(0);
    expect(answers().filter((answer) => answer.errors !== undefined), logs()).toEqual([]);
    expect(answers(), logs()).toHaveLength(5);
    expect(readLog('segments.log')).toContain('"msg":"stopped"');
  });

  it('computes the three day-one segments as their SQL does', async () => {
    const [listing] = answers();
    const segments: Array<{ name: string; size: number; computeState: string; lastComputedAt: string }> = listing!.data.segments.edges.map((edge: { node: unknown }) => edge.node);
    // Each rule's SQL at the time its segment was computed, without the order the tour wrote after the listing.
    const sqlOf: Record<string, string> = {
      'New to store-00001': `SELECT count(*)::int AS n FROM customers c
        WHERE NOT EXISTS (SELECT 1 FROM o WHERE o.customer_id = c.id AND o.store_id = 'store-00001')`,
      'Regulars of store-00001': `SELECT count(*)::int AS n FROM (SELECT customer_id FROM o JOIN customers c ON c.id = o.customer_id
        WHERE store_id = 'store-00001' AND o.created_at >= $1::timestamptz - interval '90 days' GROUP BY 1 HAVING count(*) >= 3) r`,
      'Inactive 60 days': `SELECT count(*)::int AS n FROM (SELECT customer_id FROM o JOIN customers c ON c.id = o.customer_id
        GROUP BY 1 HAVING max(o.created_at) < $1::timestamptz - interval '60 days') r`,
    };
    expect(segments.map((segment) => segment.name).sort()).toEqual(Object.keys(sqlOf).sort());
    for (const segment of segments) {
      const params = sqlOf[segment.name]!.includes('$1') ? [segment.lastComputedAt] : [];
      const { rows } = await pool.query<{ n: number }>(`WITH o AS (SELECT * FROM orders WHERE id NOT LIKE 'tour-%') ${sqlOf[segment.name]}`, params);
      expect({ name: segment.name, size: segment.size, computeState: segment.computeState }).toEqual({ name: segment.name, size: rows[0]!.n, computeState: 'IDLE' });
      expect(rows[0]!.n).toBeGreaterThan(0);
    }
  });

  it('serves the page query from Redis, then the order takes the customer out', async () => {
    const [listing, page, afterOrder] = answers();
    const inactive = listing!.data.segments.edges.find((edge: { node: { name: string } }) => edge.node.name === 'Inactive 60 days').node.id;
    const customer = page!.data.customer;
    expect(customer.isInSegment).toBe(true);
    expect(customer.name).toMatch(/\S/);
    expect(customer.segments).toContainEqual({ id: inactive, name: 'Inactive 60 days' });
    expect(customer.segmentsFreshness).toEqual({ source: 'REDIS', status: 'FRESH' });
    expect(afterOrder!.data.customer).toEqual({ name: customer.name, isInSegment: false });
    const orders = await pool.query(`SELECT store_id, total_cents FROM orders WHERE id LIKE 'tour-%'`);
    expect(orders.rows).toEqual([{ store_id: 'store-00002', total_cents: '2450' }]);
  });

  it('explains the membership and shows its history', () => {
    const [, , , explanation, history] = answers();
    expect(explanation!.data.explainMembership).toMatchObject({ member: false, served: false });
    expect(explanation!.data.explainMembership.clauses).toEqual([{ path: 'lastOrder', holds: false, summary: expect.stringMatching(/\S/) }]);
    const changes = history!.data.customer.segmentHistory.edges.map((edge: { node: { change: string; cause: string } }) => [edge.node.change, edge.node.cause]);
    expect(changes).toEqual([
      ['LEFT', 'EVENT'],
      ['ENTERED', 'SCHEDULE'],
    ]);
  });

  function readLog(name: string): string {
    try {
      return readFileSync(join(scratch, name), 'utf8');
    } catch {
      return '';
    }
  }
});
