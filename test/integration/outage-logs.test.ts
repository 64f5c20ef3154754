import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RunningWorkers } from '../../workers/index.js';
import { startTcpRelay, type TcpRelay } from '../helpers/tcp-relay.js';
import { createTestStores, REDIS_TARGET, type TestStores } from '../helpers/test-environment.js';
import { startTestWorkers } from '../helpers/workers.js';

// The symptom: with Redis gone for 10 s, the log got 49 multi-line,
// non-JSON error dumps (BullMQ queues without an error listener). Here the
// workers run against Redis through a relay that refuses it for a few
// seconds: everything they say is JSON, one line per event, nothing reaches
// stderr, and identical connection errors are counted rather than repeated.
describe('logs while Redis is away', () => {
  let relay: TcpRelay;
  let stores: TestStores;
  let workers: RunningWorkers;
  const lines: string[] = [];
  const stderr: string[] = [];

  beforeAll(async () => {
    relay = await startTcpRelay(REDIS_TARGET);
    const redisUrl = `redis://127.0.0.1:${relay.port}`;
    stores = await createTestStores({ redisUrl });
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    workers = await startTestWorkers(stores, { logger: pino({ level: 'info' }, sink) });
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await relay?.restore();
    await workers?.close();
    await stores?.dispose();
    await relay?.close();
  });

  it('logs JSON lines only, each error once with its cause, and nothing on stderr', async () => {
    const write = process.stderr.write.bind(process.stderr);
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array, ...rest: unknown[]) => {
      stderr.push(String(chunk));
      return write(chunk, ...(rest as []));
    });
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void stderr.push(args.map(String).join(' ')));
    const before = lines.length;
    await relay.refuse();
    // Long enough for every connection to fail and retry several times.
    await new Promise((resolve) => setTimeout(resolve, 4000));
    await relay.restore();
    await new Promise((resolve) => setTimeout(resolve, 1000));

    const during = lines.slice(before).map((line) => JSON.parse(line) as { level: number; msg: string; err?: { message?: string } });
    const errors = during.filter((entry) => entry.level >= 50);
    expect(errors.length).toBeGreaterThan(0);
    for (const entry of errors) expect(entry.err?.message).toBeTruthy();
    // Each connection says once that it lost Redis, not at every reconnect attempt.
    const seen = new Map<string, number>();
    for (const entry of errors as Array<Record<string, unknown> & { msg: string; err?: { message?: string } }>) {
      const key = [entry.msg, entry.connection, entry.queue, entry.err?.message].join(' | ');
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    expect([...seen].filter(([, count]) => count > 1)).toEqual([]);
    expect(stderr.filter((text) => !text.startsWith('{'))).toEqual([]);
  });
});
