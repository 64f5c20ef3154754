import { describe, expect, it } from 'vitest';
import { compareDecimalText } from '../../src/rules/decimal-text.js';

// As Postgres compares `::numeric`: exactly, whatever the digits.
describe('compareDecimalText', () => {
  it.each([
    ['1', '1', 0],
    ['1.0', '1', 0],
    ['01', '1', 0],
    ['-0', '0', 0],
    ['-0.0', '0.00', 0],
    ['2', '10', -1],
    ['10', '9.999', 1],
    ['1.00000000000000001', '1', 1],
    ['-1.5', '-1.25', -1],
    ['-1', '1', -1],
    ['0.1', '0.09', 1],
    ['123456789012345678901234567890', '123456789012345678901234567891', -1],
  ] as const)('%s vs %s is %i', (left, right, order) => {
    expect(compareDecimalText(left, right)).toBe(order);
  });

  it.each(['', '1e3', '.5', '1.', '+1', 'abc', '1,5'])('refuses %j', (text) => {
    expect(compareDecimalText(text, '1')).toBeNull();
  });
});
