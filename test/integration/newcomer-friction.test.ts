import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';
import { adminToken } from '../helpers/tokens.js';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;

// Issue 16, "Friction": what a newcomer runs first works as they would expect.
describe('newcomer friction', () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;

  beforeAll(async () => {
    stores = await createTestStores();
    subgraph = await startSubgraph(stores);
  });
  afterAll(async () => {
    await subgraph?.stop();
    await stores?.dispose();
  });

  it('npm run seed asks for a recompute of every live RULE segment, and says so', async () => {
    const admin = await adminToken();
    const created = await execute(subgraph.url, 'mutation { createSegment(input: { name: "Lapsed", rule: { lastOrder: { olderThanDays: 30 } } }) { id } }', {}, admin);
    expect(created.errors).toBeUndefined();
    await execute(subgraph.url, 'mutation { createSegment(input: { name: "ML output" }) { id } }', {}, admin); // STATIC: nothing to recompute
    await stores.pool.query('DELETE FROM segment_outbox');

    const { stdout } = await run('npm', ['run', '--silent', 'seed', '--', '--customers', '200', '--orders', '1000', '--stores', '5'], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: stores.namespace.databaseUrl },
    });
    expect(stdout.trim().split('\n').at(-1)).toBe('asked for a recompute of 1 live RULE segment: the workers (npm start) compute them over these orders');
    const { rows } = await stores.pool.query<{ segmentId: number; effect: string }>('SELECT segment_id AS "segmentId", effect FROM segment_outbox');
    expect(rows).toEqual([{ segmentId: Number(created.data!.createSegment.id), effect: 'recompute' }]);
  });

  it('npm run token -- --help prints the usage', async () => {
    const { stdout } = await run('npm', ['run', '--silent', 'token', '--', '--help'], { cwd: ROOT });
    expect(stdout).toMatch(/^Usage: npm run --silent token -- \[--scope/);
    await expect(run('npm', ['run', '--silent', 'token', '--', '--scopes', 'x'], { cwd: ROOT })).rejects.toMatchObject({ stderr: expect.stringContaining("Unknown option '--scopes'") });
  });
});
