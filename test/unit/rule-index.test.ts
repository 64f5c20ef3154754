import { describe, expect, it } from 'vitest';
import { orderLowerBounds, RuleIndex, storeScope } from '../../src/rules/rule-index.js';
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

describe('orderLowerBounds', () => {
  const since = '2026-01-01T00:00:00Z';
  const sinceMicros = Date.parse(since) * 1000;
  it.each([
    [{ orderCount: { filter: { storeIds: ['s1'], withinDays: 30 }, op: 'GTE', value: 2 } }, [{ days: 30, sinceMicros: null }]],
    [{ orderTotal: { filter: { since }, op: 'GT', value: 5 } }, [{ days: null, sinceMicros }]],
    [{ orderTotal: { filter: { since, withinDays: 7 }, op: 'GT', value: 5 } }, [{ days: 7, sinceMicros }]],
    // lastOrder: the latest order inside the window decides, whichever bound is nearer.
    [{ lastOrder: { filter: { withinDays: 90 }, withinDays: 14 } }, [{ days: 14, sinceMicros: null }]],
    [{ lastOrder: { withinDays: 14, olderThanDays: 3 } }, [{ days: 14, sinceMicros: null }]],
    // The latest order of the whole history decides "older than".
    [{ lastOrder: { olderThanDays: 60 } }, null],
    [{ orderCount: { filter: { storeIds: ['s1'] }, op: 'EQ', value: 0 } }, null],
    [{ any: [{ orderCount: { filter: { withinDays: 7 }, op: 'GTE', value: 1 } }, { not: { lastOrder: { olderThanDays: 9 } } }] }, null],
    [{ all: [{ orderCount: { filter: { withinDays: 7 }, op: 'GTE', value: 1 } }, { not: { orderTotal: { filter: { withinDays: 30 }, op: 'LT', value: 9 } } }] }, [
      { days: 7, sinceMicros: null },
      { days: 30, sinceMicros: null },
    ]],
    [country, null],
    // An instant out of range reads as unbounded: the compiler quarantines the segment when it is evaluated.
    [{ orderCount: { filter: { since: '99999-01-01T00:00:00Z' }, op: 'GTE', value: 1 } }, null],
  ] as Array<[Rule, unknown]>)('%j', (rule, bounds) => {
    expect(orderLowerBounds(rule)).toEqual(bounds);
  });
});

describe('RuleIndex.affectedSegments with the time of the changed orders', () => {
  const DAY_MICROS = 86_400_000_000;
  const asOfMicros = Date.parse('2026-06-01T00:00:00Z') * 1000;
  const index = new RuleIndex([
    { id: 1, rule: { orderCount: { filter: { storeIds: ['s1'], withinDays: 30 }, op: 'GTE', value: 1 } } },
    { id: 2, rule: { lastOrder: { filter: { storeIds: ['s1'] }, olderThanDays: 60 } } },
    { id: 3, rule: { orderTotal: { filter: { withinDays: 7 }, op: 'GT', value: 100 } } },
    { id: 4, rule: { orderCount: { filter: { storeIds: ['s1'], since: '2026-05-25T00:00:00Z' }, op: 'GTE', value: 1 } } },
    { id: 5, rule: { inSegment: '1' } },
  ]);
  const daysAgo = (days: number) => ({ newestOrderMicros: asOfMicros - days * DAY_MICROS, asOfMicros });

  it.each([
    ['now', daysAgo(0), [1, 2, 3, 4, 5]],
    ['exactly at the 7-day edge (inclusive)', daysAgo(7), [1, 2, 3, 4, 5]],
    // 2026-05-25 is also the 7-day edge: a microsecond before it is outside both.
    ['a microsecond before the 7-day edge and `since`', { newestOrderMicros: asOfMicros - 7 * DAY_MICROS - 1, asOfMicros }, [1, 2, 5]],
    ['just inside 30 days', daysAgo(29), [1, 2, 5]],
    ['a year ago', daysAgo(365), [2]],
  ])('an order changed %s', (_, time, ids) => {
    expect([...index.affectedSegments(['s1'], time)].sort((a, b) => a - b)).toEqual(ids);
  });

  it('reads every time when the orders are unknown', () => {
    expect([...index.affectedSegments(['s1'])].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5]);
  });
});
