import { describe, expect, it } from 'vitest';
import { instantMicros } from '../../src/rules/instant-micros.js';

// As Postgres reads a timestamptz: microseconds, any offset, dates on the calendar only.
describe('instantMicros', () => {
  it.each([
    ['2026-06-01T12:00:00Z', Date.UTC(2026, 5, 1, 12) * 1000],
    ['2026-06-01T12:00:00.123Z', (Date.UTC(2026, 5, 1, 12) + 123) * 1000],
    ['2026-06-01T12:00:00.000456Z', Date.UTC(2026, 5, 1, 12) * 1000 + 456],
    ['2026-06-01T12:00:00.0000004Z', Date.UTC(2026, 5, 1, 12) * 1000],
    ['2026-06-01T14:00:00+02:00', Date.UTC(2026, 5, 1, 12) * 1000],
    ['1969-12-31T23:59:59.5Z', -500_000],
  ] as const)('%s', (value, micros) => {
    expect(instantMicros(value)).toBe(micros);
  });

  it.each(['2026-02-30T00:00:00Z', '2026-06-01', 'yesterday', '2026-06-01T24:00:00Z'])('refuses %j', (value) => {
    expect(instantMicros(value)).toBeNull();
  });
});
