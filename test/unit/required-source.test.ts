import { describe, expect, it } from 'vitest';
import { requiredSource } from '../../src/rules/compile-sql.js';
import type { Rule } from '../../src/rules/rule.js';

const partners = { storeIds: ['s1', 's4'] };
const count = (op: string, value: number, filter?: object): Rule => ({ orderCount: { op, value, ...(filter ? { filter } : {}) } }) as Rule;
const country: Rule = { attribute: { field: 'country', op: 'EQ', value: 'DE' } };

describe('requiredSource: what every member has a row in', () => {
  it.each([
    // Counts and totals that 0 fails need a matching order; those 0 passes need none.
    [count('GTE', 3, partners), { filter: partners }],
    [count('GT', 0), { filter: undefined }],
    [count('EQ', 2), { filter: undefined }],
    [count('EQ', 0, partners), null],
    [count('LT', 3), null],
    [count('LTE', 0), null],
    [count('NEQ', 1), null],
    [count('NEQ', 0), { filter: undefined }],
    [{ orderTotal: { op: 'GTE', value: 1000 } }, { filter: undefined }],
    [{ lastOrder: { olderThanDays: 60 } }, { filter: undefined }],
    [{ inSegment: '7' }, { segmentId: '7' }],
    [country, null],
    [{ not: count('GTE', 1) }, null],
    // all: any child's; any: only one that every child needs.
    [{ all: [country, { inSegment: '2' }] }, { segmentId: '2' }],
    [{ any: [count('GTE', 3, partners), { lastOrder: { filter: partners, withinDays: 5 } }] }, { filter: partners }],
    [{ any: [count('GTE', 3, partners), { inSegment: '2' }] }, null],
    [{ any: [count('GTE', 3, partners), country] }, null],
  ] as Array<[Rule, unknown]>)('%j -> %j', (rule, source) => {
    expect(requiredSource(rule)).toEqual(source);
  });
});
