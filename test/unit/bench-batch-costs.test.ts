import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { batchCosts, batchCostRow, readBatchLines } from '../../scripts/bench-batch-costs.js';

const file = join(tmpdir(), `bench-batch-costs-${randomUUID()}.log`);
const batch = (time: number, fields: Record<string, unknown>) =>
  JSON.stringify({ level: 20, time, pid: 1, hostname: 'h', name: 'segments', ...fields, msg: 'changes evaluated' });

writeFileSync(
  file,
  [
    JSON.stringify({ level: 30, time: 1000, msg: 'workers started' }),
    batch(1500, { changes: 100, customers: 90, segments: 4, entered: 1, left: 2, ms: 50, maxLagMs: 80 }),
    batch(2000, { changes: 200, customers: 150, conditions: 12, segments: 30, entered: 0, left: 5, ms: 100, maxLagMs: 300 }),
    'not json',
    batch(2500, { changes: 0, customers: 0, segments: 0, entered: 0, left: 0, ms: 3, maxLagMs: 0 }),
    batch(9000, { changes: 1, customers: 1, segments: 1, entered: 0, left: 0, ms: 1, maxLagMs: 0 }),
    JSON.stringify({ level: 20, time: 2100, published: 7, msg: 'membership events published' }),
  ].join('\n'),
);
afterAll(() => rmSync(file, { force: true }));

describe('the cost table of a phase', () => {
  const lines = readBatchLines([file, join(tmpdir(), `missing-${randomUUID()}.log`)], 1000, 3000);

  it('reads the batches logged within the phase, a field not logged as null', () => {
    expect(lines.map((l) => [l.time, l.changes, l.conditions])).toEqual([
      [1500, 100, null],
      [2000, 200, 12],
      [2500, 0, null],
    ]);
  });

  it('sums and spreads them', () => {
    const costs = batchCosts(lines);
    expect(costs).toMatchObject({
      batches: 3,
      changes: 300,
      changesPerBatch: { p50: 100, max: 200 },
      conditionsPerBatch: { p50: 12, max: 12 },
      segmentsPerBatch: { p50: 4, max: 30 },
      flips: 8,
      msPerBatch: { p50: 50, p99: 100, max: 100 },
      // 500 µs per change in both batches that had changes; 153 ms over 300 changes overall.
      usPerOrderP50: 500,
      usPerOrderOverall: 510,
      maxLagMs: 300,
    });
    expect(batchCostRow('4 segments, 50/s', costs)).toEqual(['4 segments, 50/s', '3', '100', '200', '90', '12', '4', '30', '8', '50', '100', '500', '510']);
  });

  it('says n/a when no batch was evaluated', () => {
    expect(batchCostRow('idle', batchCosts([]))).toEqual(['idle', '0', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a']);
  });
});
