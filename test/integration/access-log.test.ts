import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiDependencies } from '../../src/graphql/api-dependencies.js';
import { createServer, type SubgraphServer } from '../../src/http/server.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';
import { TEST_AUTH } from '../helpers/tokens.js';

type LogLine = Record<string, any>;

// The subgraph's HTTP paths (the fast path for plain JSON POSTs, Express for
// the rest) with a logger whose lines the test reads back.
describe('access log', () => {
  let stores: TestStores;
  let server: SubgraphServer;
  let url: string;
  const lines: LogLine[] = [];

  beforeAll(async () => {
    stores = await createTestStores();
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as LogLine);
        done();
      },
    });
    const logger = pino({ level: 'info' }, sink);
    server = createServer({ introspection: true, landingPage: false }, {
      ...createApiDependencies(stores, TEST_AUTH),
      checkReadiness: () => stores.checkReadiness(),
      logger,
    });
    url = `http://127.0.0.1:${await server.listen(0, '127.0.0.1')}/`;
  });
  afterAll(async () => {
    await server?.stop();
    await stores?.dispose();
  });

  const post = (headers: Record<string, string>, body = { query: 'query SubgraphSdl { _service { sdl } }' }) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  /** The access-log line of the request answered with this id (written when the response ends, before the client sees its end). */
  const lineOf = (requestId: string) => lines.filter((line) => line.requestId === requestId && line.msg === 'request completed');

  it.each([
    ['the fast path', {}],
    // A content encoding sends the request through Express.
    ['Express', { 'content-encoding': 'identity' }],
  ])('logs a GraphQL request on %s with the caller\'s request id, the operation and its duration', async (_path, extra) => {
    const response = await post({ 'x-request-id': 'router-req-1', ...extra });
    await response.text();
    expect(response.headers.get('x-request-id')).toBe('router-req-1');
    const logged = lineOf('router-req-1').at(-1);
    expect(logged).toMatchObject({
      level: 30,
      requestId: 'router-req-1',
      operationName: 'SubgraphSdl',
      operationType: 'query',
      req: { method: 'POST', url: '/' },
      res: { statusCode: 200 },
    });
    expect(logged!.responseTime).toEqual(expect.any(Number));
    // Headers carry tokens: they are never logged.
    expect(JSON.stringify(logged)).not.toContain('content-type');
  });

  it('takes the trace id of a W3C traceparent when there is no x-request-id', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const response = await post({ traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    await response.text();
    expect(response.headers.get('x-request-id')).toBe(traceId);
    expect(lineOf(traceId)).toHaveLength(1);
  });

  it.each([
    ['no id', {}],
    ['an id that is not a plain token', { 'x-request-id': 'forged"\\n{"level":60}' }],
    ['an all-zero trace id', { traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01` }],
  ])('generates a UUID for a request with %s', async (_case, headers) => {
    const response = await post(headers);
    await response.text();
    const id = response.headers.get('x-request-id');
    expect(id).toMatch(/^[\da-f]{8}-[\da-f]{4}-[\da-f]{4}-[\da-f]{4}-[\da-f]{12}$/);
    expect(lineOf(id!)).toHaveLength(1);
  });

  it('logs requests outside GraphQL too, and probes at debug level only', async () => {
    const missing = await fetch(new URL('/nowhere', url), { headers: { 'x-request-id': 'missing-1' } });
    await missing.text();
    expect(lineOf('missing-1')).toEqual([expect.objectContaining({ req: { method: 'GET', url: '/nowhere' }, res: { statusCode: 404 } })]);
    expect(lineOf('missing-1')[0]).not.toHaveProperty('operationName');
    const probe = await fetch(new URL('/health/live', url), { headers: { 'x-request-id': 'probe-1' } });
    await probe.text();
    expect(probe.headers.get('x-request-id')).toBe('probe-1');
    expect(lineOf('probe-1')).toEqual([]);
  });
});
