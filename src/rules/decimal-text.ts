/**
 * Compares two decimal numbers written as text (`-?\d+(\.\d+)?`, as rule
 * values are validated and as Postgres prints `numeric`, never with an
 * exponent) exactly, as `::numeric` compares them: no rounding through
 * floating point, so `1.00000000000000001 > 1` holds here as it does in SQL.
 * Returns null for text that is not such a number.
 */
export function compareDecimalText(left: string, right: string): -1 | 0 | 1 | null {
  const a = parseDecimal(left);
  const b = parseDecimal(right);
  if (!a || !b) return null;
  if (a.negative !== b.negative) return a.negative ? -1 : 1;
  const magnitude = compareMagnitude(a, b);
  return (a.negative ? -magnitude : magnitude) as -1 | 0 | 1;
}

interface Decimal {
  negative: boolean;
  /** Without leading zeros ('' for zero). */
  whole: string;
  /** Without trailing zeros. */
  fraction: string;
}

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

function parseDecimal(text: string): Decimal | null {
  const m = DECIMAL.exec(text);
  if (!m) return null;
  const whole = m[2]!.replace(/^0+/, '');
  const fraction = (m[3] ?? '').replace(/0+$/, '');
  // -0 is 0.
  return { negative: m[1] === '-' && (whole !== '' || fraction !== ''), whole, fraction };
}

function compareMagnitude(a: Decimal, b: Decimal): -1 | 0 | 1 {
  if (a.whole.length !== b.whole.length) return a.whole.length < b.whole.length ? -1 : 1;
  if (a.whole !== b.whole) return a.whole < b.whole ? -1 : 1;
  const length = Math.max(a.fraction.length, b.fraction.length);
  const fa = a.fraction.padEnd(length, '0');
  const fb = b.fraction.padEnd(length, '0');
  return fa === fb ? 0 : fa < fb ? -1 : 1;
}
