import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEMO_CUSTOMERS } from '../../examples/customers-subgraph/demo-customers.js';
import { startDemoSupergraph, type RunningDemoSupergraph } from '../../examples/supergraph/index.js';
import { freePort } from '../../scripts/free-port.js';
import { seedOrderHistory } from '../../src/stores/postgres/order-history-seed.js';
import { addMembers, createSegment } from '../helpers/fixtures.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';
import { adminToken } from '../helpers/tokens.js';

// The API guide's own examples, so docs/api.md cannot drift from what `npm run supergraph` serves.
const API_GUIDE = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
function apiGuideOperation(name: string): string {
  const block = [...API_GUIDE.matchAll(/```graphql\n([\s\S]*?)```/g)].map(([, body]) => body!).find((body) => body.startsWith(`query ${name}`));
  if (!block) throw new Error(`docs/api.md has no \`query ${name}\` example`);
  return block;
}

describe('npm run supergraph: the demo customers subgraph and this one behind @apollo/gateway', () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let supergraph: RunningDemoSupergraph;
  let admin: string;

  beforeAll(async () => {
    stores = await createTestStores();
    await seedOrderHistory(stores.pool, { customers: 300, orders: 3000, stores: 5 });
    subgraph = await startSubgraph(stores);
    supergraph = await startDemoSupergraph({ port: 0, customersPort: 0, segmentsUrl: subgraph.url });
    admin = await adminToken();
  });
  afterAll(async () => {
    await supergraph?.stop();
    await subgraph?.stop();
    await stores?.dispose();
  });

  it("serves the API guide's page query: a name from the customers example, segments from here", async () => {
    const vip = await createSegment(stores, 'VIP');
    await addMembers(stores, vip.id, ['cust-00000001']);
    const query = apiGuideOperation('CustomerPage').replace('isInSegment(id: "42")', `isInSegment(id: "${vip.id}")`);

    const result = await execute(supergraph.url, query, { id: 'cust-00000001' });
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ customer: { name: 'Ada Lovelace', segments: [{ id: String(vip.id), name: 'VIP' }], isInSegment: true } });
  });

  it("serves the API guide's preview example with an admin token, naming the sampled customers", async () => {
    const created = await execute(
      supergraph.url,
      `mutation { createSegment(input: { name: "Lapsed", rule: { lastOrder: { olderThanDays: 30 } } }) { id } }`,
      {},
      admin,
    );
    expect(created.errors).toBeUndefined();
    const change = apiGuideOperation('PreviewChange').replace('previewSegmentChange(id: "3"', `previewSegmentChange(id: "${created.data!.createSegment.id}"`);
    const lapsed60 = await stores.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM (SELECT 1 FROM orders GROUP BY customer_id HAVING max(created_at) < now() - interval '60 days') x`,
    );
    expect(lapsed60.rows[0]!.n).toBeGreaterThan(3); // the seed makes the sample full

    const result = await execute(supergraph.url, apiGuideOperation('Preview'), {}, admin);
    expect(result.errors).toBeUndefined();
    expect(result.data!.previewSegment.size).toBe(lapsed60.rows[0]!.n);
    expect(result.data!.previewSegment.sample).toHaveLength(3);
    // The sample is random: the first ten seeded ids have the demo's own names, the rest made-up ones.
    const demoNames = new Map(DEMO_CUSTOMERS.map((c) => [c.id, c.name]));
    for (const customer of result.data!.previewSegment.sample) {
      expect(customer.name).toBe(demoNames.get(customer.id) ?? `Customer ${Number(customer.id.slice('cust-'.length))}`);
    }

    const changed = await execute(supergraph.url, change, {}, admin);
    expect(changed.errors).toBeUndefined();
    // The segment has not been computed (no workers here): all its future members enter.
    expect(changed.data!.previewSegmentChange).toEqual({ currentSize: 0, newSize: expect.any(Number), entering: expect.any(Number), leaving: 0, leavingSample: [] });
    expect(changed.data!.previewSegmentChange.entering).toBe(changed.data!.previewSegmentChange.newSize);
  });

  it('passes the Authorization header on to the segments subgraph, and refuses admin fields without it', async () => {
    const result = await execute(supergraph.url, apiGuideOperation('Preview'));
    expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('shows Apollo Sandbox to a browser', async () => {
    const response = await fetch(supergraph.url, { headers: { accept: 'text/html' } });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('sandbox');
  });

  it('answers without a stack trace when the segments subgraph is not where it looks', async () => {
    const lost = await startDemoSupergraph({ port: 0, customersPort: 0, segmentsUrl: `http://127.0.0.1:${await freePort()}/` });
    try {
      const result = await execute(lost.url, `query { customer(id: "cust-00000001") { name segments { id } } }`);
      expect(result.errors?.length).toBeGreaterThan(0);
      expect(JSON.stringify(result)).not.toMatch(/stacktrace|\.js:\d+|\.ts:\d+/);
    } finally {
      await lost.stop();
    }
  });

  it('npm run supergraph finds the subgraph on its PORT', async () => {
    const [gatewayPort, customersPort] = [await freePort(), await freePort()];
    const child = spawn('npm', ['run', '--silent', 'supergraph'], {
      cwd: new URL('../../', import.meta.url).pathname,
      env: { ...process.env, PORT: new URL(subgraph.url).port, SUPERGRAPH_PORT: String(gatewayPort), CUSTOMERS_PORT: String(customersPort), SUPERGRAPH_SEGMENTS_URL: '' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      await vi.waitFor(() => expect(output).toContain('supergraph ready'), { timeout: 30_000, interval: 100 });
      expect(output).toContain(`segments subgraph: http://localhost:${new URL(subgraph.url).port}/`);
      const result = await execute(`http://127.0.0.1:${gatewayPort}/`, `query { customer(id: "cust-00000002") { name segments { id } } }`);
      expect(result.errors).toBeUndefined();
      expect(result.data?.customer?.segments).toEqual([]);
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  }, 60_000);
});
