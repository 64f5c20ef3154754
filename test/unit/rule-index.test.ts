import { describe, expect, it } from 'vitest';
import { RuleIndex, storeScope } from '../../src/rules/rule-index.js';
import type { Rule } from '../../src/rules/rule.js';

const fromStores = (...storeIds: string[]): Rule => ({ orderCount: { filter: { storeIds }, op: 'GTE', value: 1 } });
const anyOrder: Rule = { lastOrder: { olderThanDays: 60 } };
const country: Rule = { attribute: { field: 'country', op: 'EQ', value: 'DE' } };

describe('storeScope', () => {
  it.each([
    [fromStores('s1', 's2'), { any: false, storeIds: new Set(['s1', 's2']) }],
    [{ all: [fromStores('s1'), { not: fromStores('s3') }] }, { any: false, storeIds: new Set(['s1', 's3']) }],
    [{ any: [fromStores('s1'), anyOrder] }, { any: true }],
    [{ orderTotal: { op: 'GT', value: 5 } }, { any: true }],
    [country, null],
    [{ inSegment: '4' }, null],
  ] as Array<[Rule, unknown]>)('%j', (rule, scope) => {
    expect(storeScope(rule)).toEqual(scope);
  });
});

describe('RuleIndex.affectedBy', () => {
  const index = new RuleIndex([
    { id: 1, rule: fromStores('s1') },
    { id: 2, rule: fromStores('s2') },
    { id: 3, rule: anyOrder },
    { id: 4, rule: country },
    { id: 5, rule: { all: [{ inSegment: '1' }, country] } },
    { id: 6, rule: { any: [{ inSegment: '5' }, { inSegment: '2' }] } },
    { id: 7, rule: { not: { inSegment: '4' } } },
  ]);

  it.each([
    [[], [[3]]],
    [['s1'], [[1, 3], [5], [6]]],
    [['s2'], [[2, 3], [6]]],
    [['s1', 's2'], [[1, 2, 3], [5], [6]]],
    [['s9'], [[3]]],
  ])('stores %j -> levels %j', (stores, levels) => {
    expect(index.affectedBy(stores)).toEqual(levels);
  });

  it('never lists a segment whose rule reads neither orders nor an affected segment', () => {
    expect(index.affectedBy(['s1', 's2']).flat()).not.toContain(4);
    expect(index.affectedBy(['s1', 's2']).flat()).not.toContain(7);
  });
});
