// RFC 3339 date-time with an explicit offset: https://www.rfc-editor.org/rfc/rfc3339#section-5.6
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/**
 * Parses an RFC 3339 date-time with a time zone, or returns null. Unlike
 * `Date.parse`, which rolls `2026-02-30` over to March 2, it refuses dates
 * that are not on the calendar (day 30 of February, day 31 of April, hour
 * 24): Postgres refuses them too, so a rule holding one would fail at every
 * evaluation. The one parser of instants for rules and the DateTime scalar.
 */
export function parseDateTime(value: string): Date | null {
  const m = RFC3339.exec(value);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const [offsetHours, offsetMinutes] = [Number(m[8] ?? 0), Number(m[9] ?? 0)];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const onCalendar =
    month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth && hour <= 23 && minute <= 59 && second <= 59 && offsetHours <= 23 && offsetMinutes <= 59;
  if (!onCalendar) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}
