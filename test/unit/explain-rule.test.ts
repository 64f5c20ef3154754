import { describe, expect, it } from 'vitest';
import { explainCondition, explainListing, explainRule, explainUnknownCustomer, type ConditionFacts } from '../../src/rules/explain-rule.js';
import type { Condition, Rule } from '../../src/rules/rule.js';

const AS_OF = new Date('2026-06-01T12:00:00.000Z');
const STORES = ['store-00001', 'store-00004'];

const fact = (holds: boolean, actual: string | null): ConditionFacts => ({ holds, actual });
const row = (condition: Condition, facts: ConditionFacts, expected: string, summary: string) => [condition, facts, expected, summary] as const;

describe('explainCondition says what each kind of condition compared, in one line', () => {
  it.each([
    // orderCount: the example.
    row(
      { orderCount: { filter: { storeIds: STORES, withinDays: 30 }, op: 'GTE', value: 3 } },
      fact(false, '2'),
      'at least 3',
      'orders at store-00001, store-00004 in the last 30 days: 2, needs at least 3',
    ),
    row({ orderCount: { op: 'EQ', value: 0 } }, fact(true, '0'), 'exactly 0', 'orders: 0, needs exactly 0'),
    row({ orderCount: { filter: { withinDays: 1 }, op: 'LT', value: 2 } }, fact(true, '1'), 'less than 2', 'orders in the last 1 day: 1, needs less than 2'),
    row(
      { orderCount: { filter: { since: '2026-01-01T00:00:00.000Z', until: '2026-02-01T00:00:00.000Z' }, op: 'NEQ', value: 1 } },
      fact(false, '1'),
      'other than 1',
      'orders since 2026-01-01T00:00:00.000Z before 2026-02-01T00:00:00.000Z: 1, needs other than 1',
    ),
    // orderTotal, in cents.
    row({ orderTotal: { filter: { storeIds: ['s1'] }, op: 'GT', value: 10000 } }, fact(false, '4500'), 'more than 10000', 'total cents of orders at s1: 4500, needs more than 10000'),
    row({ orderTotal: { op: 'LTE', value: 500 } }, fact(true, '0'), 'at most 500', 'total cents of orders: 0, needs at most 500'),
    // lastOrder: windows become instants measured back from the evaluation.
    row(
      { lastOrder: { olderThanDays: 60 } },
      fact(true, '2026-03-01T08:00:00.000Z'),
      'before 2026-04-02T12:00:00.000Z (more than 60 days ago)',
      'latest order: 2026-03-01T08:00:00.000Z, needs before 2026-04-02T12:00:00.000Z (more than 60 days ago)',
    ),
    row(
      { lastOrder: { filter: { storeIds: ['s2'] }, withinDays: 7 } },
      fact(false, null),
      'at or after 2026-05-25T12:00:00.000Z (within the last 7 days)',
      'latest order at s2: none, needs at or after 2026-05-25T12:00:00.000Z (within the last 7 days)',
    ),
    row(
      { lastOrder: { olderThanDays: 30, withinDays: 90 } },
      fact(false, '2026-05-30T00:00:00.000Z'),
      'at or after 2026-03-03T12:00:00.000Z (within the last 90 days) and before 2026-05-02T12:00:00.000Z (more than 30 days ago)',
      'latest order: 2026-05-30T00:00:00.000Z, needs at or after 2026-03-03T12:00:00.000Z (within the last 90 days) and before 2026-05-02T12:00:00.000Z (more than 30 days ago)',
    ),
    // attribute: text comparisons, numbers, instants, and a missing value.
    row({ attribute: { field: 'country', op: 'EQ', value: 'DE' } }, fact(false, 'FR'), '"DE"', 'country: "FR", needs "DE"'),
    row({ attribute: { field: 'city', op: 'NEQ', value: 'Paris' } }, fact(true, 'Berlin'), 'a value other than "Paris"', 'city: "Berlin", needs a value other than "Paris"'),
    row(
      { attribute: { field: 'city', op: 'NEQ', value: 'Paris' } },
      fact(false, null),
      'a value other than "Paris"',
      'city: missing (a missing attribute fails every comparison), needs a value other than "Paris"',
    ),
    row({ attribute: { field: 'country', op: 'IN', values: ['DE', 'FR'] } }, fact(true, 'FR'), 'one of "DE", "FR"', 'country: "FR", needs one of "DE", "FR"'),
    row(
      { attribute: { field: 'attributes.tier', op: 'NOT_IN', values: ['gold', 'silver'] } },
      fact(false, 'gold'),
      'a value other than "gold", "silver"',
      'attributes.tier: "gold", needs a value other than "gold", "silver"',
    ),
    row({ attribute: { field: 'attributes.tier', op: 'EQ', value: 'gold' } }, fact(false, null), '"gold"', 'attributes.tier: missing, needs "gold"'),
    row({ attribute: { field: 'attributes.age', op: 'GTE', value: '18' } }, fact(true, '30'), 'a number at least 18', 'attributes.age: "30", needs a number at least 18'),
    row(
      { attribute: { field: 'createdAt', op: 'LT', value: '2026-01-01T00:00:00.000Z' } },
      fact(true, '2025-12-24T18:00:00.000Z'),
      'before 2026-01-01T00:00:00.000Z',
      'createdAt: 2025-12-24T18:00:00.000Z, needs before 2026-01-01T00:00:00.000Z',
    ),
    // inSegment.
    row({ inSegment: '12' }, fact(false, 'false'), 'yes', 'member of segment 12: no, needs yes'),
    row({ inSegment: '12' }, fact(true, 'true'), 'yes', 'member of segment 12: yes, needs yes'),
  ])('%j with %j', (condition, facts, expected, summary) => {
    expect(explainCondition(condition, facts, AS_OF, 'p')).toEqual({ path: 'p', holds: facts.holds, actual: facts.actual, expected, summary });
  });
});

describe('explainRule', () => {
  const rule: Rule = {
    all: [
      { orderCount: { filter: { storeIds: STORES, withinDays: 30 }, op: 'GTE', value: 3 } },
      { any: [{ attribute: { field: 'country', op: 'EQ', value: 'DE' } }, { inSegment: '4' }] },
      { not: { lastOrder: { olderThanDays: 60 } } },
    ],
  };

  it('lists every node in pre-order with the paths validation errors use, combining children as the compiled predicate does', () => {
    const clauses = explainRule(rule, [fact(true, '5'), fact(false, 'FR'), fact(true, 'true'), fact(false, null)], AS_OF);
    expect(clauses.map(({ path, holds, actual, expected }) => ({ path, holds, actual, expected }))).toEqual([
      { path: 'all', holds: true, actual: '3', expected: '3' },
      { path: 'all[0].orderCount', holds: true, actual: '5', expected: 'at least 3' },
      { path: 'all[1].any', holds: true, actual: '1', expected: 'at least 1' },
      { path: 'all[1].any[0].attribute', holds: false, actual: 'FR', expected: '"DE"' },
      { path: 'all[1].any[1].inSegment', holds: true, actual: 'true', expected: 'yes' },
      { path: 'all[2].not', holds: true, actual: 'false', expected: 'false' },
      { path: 'all[2].not.lastOrder', holds: false, actual: null, expected: 'before 2026-04-02T12:00:00.000Z (more than 60 days ago)' },
    ]);
    expect(clauses.map((c) => c.summary).filter((_, i) => [0, 2, 5].includes(i))).toEqual([
      'all 3 conditions hold',
      '1 of 2 conditions holds, needs at least 1',
      'all[2].not.lastOrder does not hold, as needed',
    ]);
  });

  it('says which children fail', () => {
    const clauses = explainRule(rule, [fact(false, '2'), fact(false, 'FR'), fact(false, 'false'), fact(true, '2026-01-01T00:00:00.000Z')], AS_OF);
    expect(clauses.map((c) => [c.path, c.holds, c.summary])).toEqual([
      ['all', false, 'none of 3 conditions hold, needs all 3'],
      ['all[0].orderCount', false, 'orders at store-00001, store-00004 in the last 30 days: 2, needs at least 3'],
      ['all[1].any', false, 'none of 2 conditions hold, needs at least 1'],
      ['all[1].any[0].attribute', false, 'country: "FR", needs "DE"'],
      ['all[1].any[1].inSegment', false, 'member of segment 4: no, needs yes'],
      ['all[2].not', false, 'all[2].not.lastOrder holds, needs it not to'],
      ['all[2].not.lastOrder', true, 'latest order: 2026-01-01T00:00:00.000Z, needs before 2026-04-02T12:00:00.000Z (more than 60 days ago)'],
    ]);
  });

  it('names a root condition by its kind', () => {
    expect(explainRule({ orderTotal: { op: 'GT', value: 0 } }, [fact(true, '10')], AS_OF)).toEqual([
      { path: 'orderTotal', holds: true, actual: '10', expected: 'more than 0', summary: 'total cents of orders: 10, needs more than 0' },
    ]);
  });

  it('refuses facts that do not match the rule', () => {
    expect(() => explainRule(rule, [fact(true, '5')], AS_OF)).toThrow(RangeError);
    expect(() => explainRule({ inSegment: '1' }, [fact(true, 'true'), fact(true, 'true')], AS_OF)).toThrow(RangeError);
  });

  it('explains a customer without a record and a STATIC list in one clause', () => {
    expect(explainUnknownCustomer(rule, 'c-9')).toEqual([
      { path: 'all', holds: false, actual: null, expected: null, summary: 'customer "c-9" is not known to segmentation (no customer record), so no rule selects them' },
    ]);
    expect(explainListing(7, true)).toEqual([
      { path: '', holds: true, actual: 'true', expected: 'true', summary: 'listed in the members of STATIC segment 7: yes, needs yes' },
    ]);
    expect(explainListing(7, false)[0]).toMatchObject({ holds: false, summary: 'listed in the members of STATIC segment 7: no, needs yes' });
  });
});
