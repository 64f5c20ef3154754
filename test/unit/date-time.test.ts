import { Kind } from 'graphql';
import { describe, expect, it } from 'vitest';
import { DateTime } from '../../src/graphql/date-time.scalar.js';

describe('DateTime scalar', () => {
  it('serializes a Date as UTC with milliseconds', () => {
    expect(DateTime.serialize(new Date(Date.UTC(2026, 0, 31, 12, 0, 0, 5)))).toBe('2026-01-31T12:00:00.005Z');
  });

  it.each([
    ['2026-01-31T12:00:00Z', '2026-01-31T12:00:00.000Z'],
    ['2026-01-31T14:00:00.250+02:00', '2026-01-31T12:00:00.250Z'],
    ['2026-01-31t12:00:00z', '2026-01-31T12:00:00.000Z'],
  ])('parses %j', (input, iso) => {
    expect(DateTime.parseValue(input).toISOString()).toBe(iso);
    expect(DateTime.parseLiteral({ kind: Kind.STRING, value: input }, {}).toISOString()).toBe(iso);
  });

  it('accepts the 29th of February of a leap year', () => {
    expect(DateTime.parseValue('2028-02-29T00:00:00Z').toISOString()).toBe('2028-02-29T00:00:00.000Z');
  });

  it.each([
    '2026-01-31',
    '2026-01-31T12:00:00',
    'yesterday',
    '2026-13-45T99:00:00Z',
    1769860800000,
    // On no calendar: Date.parse would roll these over to another day.
    '2026-02-30T00:00:00Z',
    '2026-02-29T00:00:00Z',
    '2026-04-31T00:00:00Z',
    '2026-01-31T24:00:00Z',
    '2026-01-31T12:00:00+24:00',
  ])('rejects %j', (input) => {
    expect(() => DateTime.parseValue(input)).toThrow(/DateTime/);
  });

  it('refuses to serialize anything but a valid Date', () => {
    expect(() => DateTime.serialize('2026-01-31')).toThrow(TypeError);
    expect(() => DateTime.serialize(new Date(Number.NaN))).toThrow(TypeError);
  });
});
