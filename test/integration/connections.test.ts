import { once } from 'node:events';
import net from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { freePort } from '../../scripts/free-port.js';
import { spawnService } from '../helpers/service-process.js';
import { startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, TEST_REDIS_URL, type TestStores } from '../helpers/test-environment.js';

// Issue 16, "Connections": bounded time for headers and body, quiet client
// disconnects, no X-Powered-By, one requestId per log line, HOST and METRICS_PORT.
describe('connections', () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let port: number;
  const raw: string[] = [];

  beforeAll(async () => {
    stores = await createTestStores();
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        raw.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    subgraph = await startSubgraph(stores, { introspection: true, landingPage: false, timeouts: { headersMs: 1000, bodyIdleMs: 1000 } }, { logger: pino({ level: 'info' }, sink) });
    port = Number(new URL(subgraph.url).port);
  });
  afterAll(async () => {
    await subgraph?.stop();
    await stores?.dispose();
  });

  /** Opens a raw connection, writes `chunks` with `gapMs` between them, and resolves with what came back once the server closes it (or after `waitMs`). */
  const exchange = async (chunks: string[], gapMs: number, waitMs = 8000) => {
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    let received = '';
    socket.on('data', (data: Buffer) => (received += data.toString('utf8')));
    const started = Date.now();
    for (const [i, chunk] of chunks.entries()) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
      socket.write(chunk);
    }
    const closed = await Promise.race([once(socket, 'close').then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), waitMs))]);
    socket.destroy();
    return { received, closed, ms: Date.now() - started };
  };
  const body = JSON.stringify({ query: '{ __typename }' });

  it('answers a body that never arrives with a JSON 408 and closes, within the idle timeout', async () => {
    const { received, closed, ms } = await exchange(['POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\n\r\n{"query":'], 0);
    expect(closed).toBe(true);
    expect(ms).toBeLessThan(5000);
    expect(received).toMatch(/^HTTP\/1\.1 408/);
    expect(received).toContain('{"errors":[{"message":"The request body stopped arriving","extensions":{"code":"REQUEST_TIMEOUT"}}]}');
  });

  it('closes a connection whose headers never end, within the headers timeout', async () => {
    const { received, closed, ms } = await exchange(['POST / HTTP/1.1\r\nHost: x\r\n'], 0);
    expect(closed).toBe(true);
    expect(ms).toBeLessThan(5000);
    expect(received).toMatch(/^(HTTP\/1\.1 408|$)/);
  });

  it('lets a slow body through while it keeps coming', async () => {
    const chunks = [`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`, ...body.match(/.{1,4}/g)!];
    // 600 ms between chunks against an idle timeout of 1 s: the whole body takes far longer than the timeout.
    const { received, ms } = await exchange(chunks, 600, 10_000);
    expect(ms).toBeGreaterThan(1000);
    expect(received).toMatch(/^HTTP\/1\.1 200/);
    expect(received).toContain('{"data":{"__typename":"Query"}}');
  });

  it('logs a client that leaves mid-body at info, as an aborted request, with no error line', async () => {
    const before = raw.length;
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nX-Request-Id: leaves-early\r\n\r\n{"que');
    await new Promise((resolve) => setTimeout(resolve, 100));
    socket.destroy();
    await vi.waitFor(() => expect(raw.slice(before).some((line) => line.includes('leaves-early'))).toBe(true), { timeout: 3000 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const lines = raw.slice(before).map((line) => JSON.parse(line) as Record<string, any>);
    expect(lines.filter((line) => line.level >= 40)).toEqual([]);
    expect(lines.find((line) => line.requestId === 'leaves-early')).toMatchObject({ level: 30, msg: 'request aborted' });
  });

  it('writes the request id once per line and sends no X-Powered-By', async () => {
    const before = raw.length;
    for (const path of ['/', '/health/live', '/nowhere']) {
      const response = await fetch(new URL(path, subgraph.url), {
        method: path === '/' ? 'POST' : 'GET',
        headers: { 'content-type': 'application/json', 'x-request-id': `once-${path.length}` },
        ...(path === '/' ? { body } : {}),
      });
      await response.text();
      expect(response.headers.get('x-powered-by')).toBeNull();
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    const lines = raw.slice(before).filter((line) => line.includes('"once-'));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) expect(line.match(/"requestId"/g)).toHaveLength(1);
  });
});

describe('HOST and METRICS_PORT', () => {
  let stores: TestStores;
  beforeAll(async () => {
    stores = await createTestStores();
  });
  afterAll(async () => {
    await stores?.dispose();
  });

  it('binds the interface asked for and moves /metrics to its own listener', async () => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const service = spawnService('subgraph', {
      NODE_ENV: 'development',
      DATABASE_URL: stores.namespace.databaseUrl,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_PREFIX: stores.namespace.redisPrefix,
      PORT: String(port),
      METRICS_PORT: String(metricsPort),
      HOST: '127.0.0.1',
    });
    try {
      await vi.waitFor(() => expect(service.output()).toContain('metrics listener ready'), { timeout: 20_000, interval: 100 });
      const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain('# TYPE');
      expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${port}/health/ready`)).status).toBe(200);
      // Bound to the loopback interface only: the machine's other addresses do not answer.
      const other = Object.values((await import('node:os')).networkInterfaces())
        .flat()
        .find((address) => address && address.family === 'IPv4' && !address.internal);
      if (other) await expect(fetch(`http://${other.address}:${port}/health/live`)).rejects.toThrow();
    } finally {
      await service.stop();
    }
  });
});
