import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startDemoSupergraph, type RunningDemoSupergraph } from '../../examples/supergraph/index.js';
import { freePort } from '../../scripts/free-port.js';
import { addMembers, createSegment } from '../helpers/fixtures.js';
import { spawnService } from '../helpers/service-process.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, TEST_REDIS_URL, type TestStores } from '../helpers/test-environment.js';
import { adminToken } from '../helpers/tokens.js';

// Issue 16, "Router-only access": with ROUTER_SHARED_SECRET set, only requests
// carrying it reach GraphQL and the member import.
const SECRET = 'a-router-secret-of-at-least-32-characters';

describe('router-only access (ROUTER_SHARED_SECRET)', () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let admin: string;
  let segmentId: number;

  beforeAll(async () => {
    stores = await createTestStores();
    subgraph = await startSubgraph(stores, { introspection: true, landingPage: false, routerSecret: { secret: SECRET, header: 'Router-Authorization' } });
    admin = await adminToken();
    segmentId = (await createSegment(stores, 'VIP')).id;
    await addMembers(stores, segmentId, ['cust-1']);
  });
  afterAll(async () => {
    await subgraph?.stop();
    await stores?.dispose();
  });

  const entities = JSON.stringify({ query: '{ _entities(representations: [{ __typename: "Customer", id: "cust-1" }]) { ... on Customer { segments { name } } } }' });
  const json = { 'content-type': 'application/json' };
  const send = async (path: string, init: RequestInit) => {
    const response = await fetch(new URL(path, subgraph.url), init);
    const text = await response.text();
    return { status: response.status, type: response.headers.get('content-type'), body: text.startsWith('{') ? JSON.parse(text) : text };
  };

  it.each([
    ['a query without the header', '/', { method: 'POST', headers: json, body: entities }],
    ['a query with a wrong secret', '/', { method: 'POST', headers: { ...json, 'router-authorization': `${SECRET}x` }, body: entities }],
    ['a query with the secret as a bearer token instead', '/', { method: 'POST', headers: { ...json, authorization: `Bearer ${SECRET}` }, body: entities }],
    ['a body that is not JSON (refused before it is parsed)', '/', { method: 'POST', headers: json, body: '{not json' }],
    ['a GET query', '/?query=%7B__typename%7D', { method: 'GET', headers: { 'apollo-require-preflight': 'true' } }],
    ['a form post', '/', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' }],
    ['the member import', `/admin/segments/1/members`, { method: 'PUT', headers: { 'content-type': 'text/csv' }, body: 'cust-2\n' }],
    ['an unknown path', '/anything', { method: 'GET' }],
  ])('refuses %s with a JSON 401 naming the header', async (_name, path, init) => {
    const answer = await send(path, init);
    expect(answer.status).toBe(401);
    expect(answer.type).toMatch(/^application\/json/);
    expect(answer.body).toEqual({
      errors: [{ message: 'Only the router may query this subgraph: the Router-Authorization header is missing or wrong', extensions: { code: 'UNAUTHENTICATED' } }],
    });
    expect(JSON.stringify(answer.body)).not.toContain(SECRET);
  });

  it('answers the router: the header in any case, GraphQL as before', async () => {
    for (const header of ['Router-Authorization', 'router-authorization', 'ROUTER-AUTHORIZATION']) {
      const answer = await send('/', { method: 'POST', headers: { ...json, [header]: SECRET }, body: entities });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ data: { _entities: [{ segments: [{ name: 'VIP' }] }] } });
    }
  });

  it('still leaves what a caller may do to its admin token', async () => {
    const mutation = JSON.stringify({ query: 'mutation { createSegment(input: { name: "Lapsed" }) { id } }' });
    const anonymous = await send('/', { method: 'POST', headers: { ...json, 'router-authorization': SECRET }, body: mutation });
    expect(anonymous.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    expect(anonymous.body.errors[0].message).not.toMatch(/router/i);
    expect((await stores.pool.query(`SELECT 1 FROM segments WHERE name = 'Lapsed'`)).rowCount).toBe(0);

    const imported = await send(`/admin/segments/${segmentId}/members`, {
      method: 'PUT',
      headers: { 'content-type': 'text/csv', 'router-authorization': SECRET, authorization: `Bearer ${admin}` },
      body: 'cust-1\ncust-2\n',
    });
    expect(imported.status).toBe(200);
    const members = await stores.pool.query<{ id: string }>('SELECT customer_id AS id FROM segment_memberships WHERE segment_id = $1 ORDER BY 1', [segmentId]);
    expect(members.rows.map((r) => r.id)).toEqual(['cust-1', 'cust-2']);
  });

  it('keeps the probes and the metrics scrape open', async () => {
    expect((await send('/health/live', { method: 'GET' })).status).toBe(200);
    expect((await send('/health/ready', { method: 'GET' })).status).toBe(200);
    const metrics = await fetch(new URL('/metrics', subgraph.url));
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('# TYPE');
  });

  describe('through @apollo/gateway (npm run supergraph)', () => {
    let withSecret: RunningDemoSupergraph;
    let withoutSecret: RunningDemoSupergraph;
    beforeAll(async () => {
      withSecret = await startDemoSupergraph({ port: 0, customersPort: 0, segmentsUrl: subgraph.url, segmentsSecret: { secret: SECRET } });
      withoutSecret = await startDemoSupergraph({ port: 0, customersPort: 0, segmentsUrl: subgraph.url });
    });
    afterAll(async () => {
      await withSecret?.stop();
      await withoutSecret?.stop();
    });
    const page = `query { customer(id: "cust-00000001") { name segments { name } } }`;

    it('serves the page when the gateway sends the secret', async () => {
      await addMembers(stores, segmentId, ['cust-00000001']);
      const result = await execute(withSecret.url, page);
      expect(result.errors).toBeUndefined();
      expect(result.data).toEqual({ customer: { name: 'Ada Lovelace', segments: [{ name: 'VIP' }] } });
    });

    it("gives a gateway without it the subgraph's coded refusal, and nothing of the segments", async () => {
      const result = await execute(withoutSecret.url, page);
      expect(result.data?.customer?.segments ?? null).toBeNull();
      expect(result.errors?.map((e) => e.extensions?.code)).toContain('UNAUTHENTICATED');
      expect(JSON.stringify(result)).not.toMatch(/stacktrace|VIP/);
    });
  });
});

describe('production without the router secret', () => {
  let stores: TestStores;
  beforeAll(async () => {
    stores = await createTestStores();
  });
  afterAll(async () => {
    await stores?.dispose();
  });

  const start = async (role: 'all' | 'subgraph' | 'worker', env: Record<string, string>) =>
    spawnService(role, {
      NODE_ENV: 'production',
      DATABASE_URL: stores.namespace.databaseUrl,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_PREFIX: stores.namespace.redisPrefix,
      PORT: String(await freePort()),
      WORKER_PORT: String(await freePort()),
      ...env,
    });

  it('refuses to start the subgraph, saying what to set', async () => {
    for (const role of ['subgraph', 'all'] as const) {
      const service = await start(role, {});
      const output = () => service.output();
      expect(await service.exited).toBe(1);
      expect(output()).toContain('Invalid configuration: production needs ROUTER_SHARED_SECRET');
      expect(output()).toContain('ROUTER_ONLY_NETWORK=true');
    }
  });

  it('starts the worker role, which serves no GraphQL, and the subgraph with the opt-out', async () => {
    for (const [role, env, ready] of [
      ['worker', {}, 'worker operations listener ready'],
      ['subgraph', { ROUTER_ONLY_NETWORK: 'true' }, 'subgraph ready'],
    ] as const) {
      const service = await start(role, env);
      await vi.waitFor(() => expect(service.output()).toContain(ready), { timeout: 20_000, interval: 100 });
      expect(service.output()).not.toContain('ROUTER_SHARED_SECRET is not set');
      expect(await service.stop()).toBe(0);
    }
  });
});
