import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { repeatedErrorLog } from '../../src/platform/repeated-error-log.js';

describe('repeatedErrorLog', () => {
  const lines: Array<Record<string, any>> = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, any>);
        done();
      },
    }),
  );
  beforeEach(() => {
    lines.length = 0;
    vi.useFakeTimers();
  });
  afterEach(() => vi.useRealTimers());

  const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });

  it('logs the first of identical errors as one line with its cause, then one summary per window', () => {
    const log = repeatedErrorLog(logger, 'queue error', 1000);
    for (let i = 0; i < 49; i++) log(refused(), { queue: 'recompute' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 50, msg: 'queue error', queue: 'recompute', err: { type: 'Error', code: 'ECONNREFUSED' } });
    expect(lines[0]!.err.stack).toEqual(expect.any(String));
    vi.advanceTimersByTime(1000);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ msg: 'queue error (repeated)', queue: 'recompute', repeated: 48 });
    // After the window, the next one is logged again at once.
    log(refused(), { queue: 'recompute' });
    expect(lines).toHaveLength(3);
  });

  it('logs different errors and different sources each', () => {
    const log = repeatedErrorLog(logger, 'queue error', 1000);
    log(refused(), { queue: 'recompute' });
    log(refused(), { queue: 'maintenance' });
    log(new Error('READONLY You cannot write against a read only replica.'), { queue: 'recompute' });
    expect(lines.map((line) => line.queue)).toEqual(['recompute', 'maintenance', 'recompute']);
    vi.advanceTimersByTime(1000);
    // Nothing repeated: no summary.
    expect(lines).toHaveLength(3);
  });
});
