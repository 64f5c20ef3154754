import { describe, expect, it } from 'vitest';
import { refreshOffsetMs } from '../../src/jobs/recompute-queue.js';

const DAY = 86_400_000;

describe('refreshOffsetMs', () => {
  it.each([
    [1, DAY, 53_398_136],
    [2, DAY, 20_396_273],
    [3, DAY, 73_794_409],
    [1, 15 * 60_000, 556_230],
    // Never 0, which BullMQ takes as "run at once".
    [0, DAY, 1],
  ] as const)('segment %i, every %i ms: %i', (id, every, offset) => {
    expect(refreshOffsetMs(id, every)).toBe(offset);
  });

  it.each([10, 1_000, 10_000])('spreads %i segments created together over the period', (count) => {
    const offsets = Array.from({ length: count }, (_, i) => refreshOffsetMs(i + 1, DAY)).sort((a, b) => a - b);
    expect(offsets[0]).toBeGreaterThanOrEqual(1);
    expect(offsets.at(-1)).toBeLessThan(DAY);
    const gaps = offsets.slice(1).map((offset, i) => offset - offsets[i]!);
    gaps.push(DAY - offsets.at(-1)! + offsets[0]!);
    // Evenly: no gap more than 3x the mean, so at most a handful run within any 1/count of the day.
    expect(Math.max(...gaps)).toBeLessThan((3 * DAY) / count);
    expect(Math.min(...gaps)).toBeGreaterThan(0);
  });
});
