import { parseDateTime } from './date-time.js';

/**
 * An RFC 3339 date-time as microseconds since the epoch, the precision of a
 * Postgres timestamptz (fractions beyond it rounded, as Postgres rounds them),
 * or null when Postgres would refuse it. Rules are evaluated in microseconds
 * so that comparisons with stored instants agree with SQL to the last digit.
 */
export function instantMicros(value: string): number | null {
  if (parseDateTime(value) === null) return null;
  const fraction = /\.(\d+)/.exec(value)?.[1] ?? '';
  const seconds = Date.parse(value.replace(/\.\d+/, ''));
  if (Number.isNaN(seconds)) return null;
  return seconds * 1000 + Math.round(Number(`0.${fraction || '0'}`) * 1_000_000);
}

/** A JS instant (milliseconds) in microseconds. */
export const micros = (date: Date): number => date.getTime() * 1000;
