import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';
import { readerToken } from '../helpers/tokens.js';

// Issue 16, "Internal errors are findable": on either execution path, an
// internal error is logged once with the request id, the operation name and
// the path, and its answer keeps the path (but nothing from inside).
describe('internal errors', () => {
  let stores: TestStores;
  let compiled: RunningSubgraph;
  let interpreted: RunningSubgraph;
  let reader: string;
  const lines: Array<Record<string, any>> = [];

  beforeAll(async () => {
    stores = await createTestStores();
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, any>);
        done();
      },
    });
    const logger = pino({ level: 'info' }, sink);
    compiled = await startSubgraph(stores, { introspection: true, landingPage: false }, { logger });
    interpreted = await startSubgraph(stores, { introspection: true, landingPage: false, compiledExecution: false }, { logger });
    reader = await readerToken();
    // A schema that drifted under the service: every read of segments fails inside.
    await stores.pool.query('ALTER TABLE segments RENAME TO segments_moved');
  });
  afterAll(async () => {
    await stores?.pool.query('ALTER TABLE segments_moved RENAME TO segments').catch(() => undefined);
    await compiled?.stop();
    await interpreted?.stop();
    await stores?.dispose();
  });

  it.each([
    ['compiled', () => compiled.url],
    ['graphql-js', () => interpreted.url],
  ])('are logged once with request id, operation and path, and answered with the path (%s)', async (_path, url) => {
    const requestId = `req-${_path}`;
    const before = lines.length;
    const response = await fetch(url(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${reader}`, 'x-request-id': requestId },
      body: JSON.stringify({ query: 'query SegmentList { segments(first: 5) { totalCount } }', operationName: 'SegmentList' }),
    });
    const body = (await response.json()) as { data: unknown; errors: unknown[] };
    expect(body.errors).toEqual([{ message: 'Internal server error', path: ['segments'], extensions: { code: 'INTERNAL_SERVER_ERROR' } }]);
    await new Promise((resolve) => setTimeout(resolve, 50)); // the access log line is written when the response ends
    const logged = lines.slice(before);
    const errors = logged.filter((line) => line.level >= 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ msg: 'internal error in operation', requestId, operationName: 'SegmentList', path: ['segments'] });
    expect(errors[0]!.err.message).toMatch(/relation "segments" does not exist/);
    const access = logged.filter((line) => line.msg === 'request completed');
    expect(access).toHaveLength(1);
    expect(access[0]).toMatchObject({ requestId, operationName: 'SegmentList' });
  });
});
