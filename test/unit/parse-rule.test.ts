import { describe, expect, it } from 'vitest';
import { parseRule } from '../../src/rules/parse-rule.js';
import { readsOrders, referencedSegments, type Rule } from '../../src/rules/rule.js';

const ok = (input: unknown, rule: Rule) => [input, rule] as const;
const bad = (input: unknown, path: string, message: RegExp) => [input, path, message] as const;

describe('parseRule accepts and normalizes', () => {
  it.each([
    // The day-one segments, as the README writes them.
    ok({ orderCount: { filter: { storeIds: ['s2', 's1', 's2'] }, op: 'EQ', value: 0 } }, { orderCount: { filter: { storeIds: ['s1', 's2'] }, op: 'EQ', value: 0 } }),
    ok({ orderCount: { filter: { storeIds: ['s1'], withinDays: 30 }, op: 'GTE', value: 3 } }, { orderCount: { filter: { storeIds: ['s1'], withinDays: 30 }, op: 'GTE', value: 3 } }),
    ok({ lastOrder: { olderThanDays: 60 } }, { lastOrder: { olderThanDays: 60 } }),
    // Normalization.
    ok({ orderTotal: { filter: {}, op: 'GT', value: 100 } }, { orderTotal: { op: 'GT', value: 100 } }),
    ok({ orderTotal: { filter: null, op: 'GT', value: 100 } }, { orderTotal: { op: 'GT', value: 100 } }),
    ok({ not: { not: { inSegment: '4' } } }, { inSegment: '4' }),
    ok({ all: [{ inSegment: '4' }] }, { inSegment: '4' }),
    ok({ all: [{ inSegment: '4' }, { inSegment: '4' }] }, { inSegment: '4' }),
    ok({ all: [{ all: [{ inSegment: '1' }, { inSegment: '2' }] }, { inSegment: '3' }] }, { all: [{ inSegment: '1' }, { inSegment: '2' }, { inSegment: '3' }] }),
    ok({ any: [{ all: [{ inSegment: '1' }, { inSegment: '2' }] }, { any: [{ inSegment: '3' }] }] }, { any: [{ all: [{ inSegment: '1' }, { inSegment: '2' }] }, { inSegment: '3' }] }),
    ok({ attribute: { field: 'country', op: 'IN', values: ['FR', 'DE', 'FR'] } }, { attribute: { field: 'country', op: 'IN', values: ['DE', 'FR'] } }),
    ok({ attribute: { field: 'attributes.age', op: 'GTE', value: '18' } }, { attribute: { field: 'attributes.age', op: 'GTE', value: '18' } }),
    ok({ attribute: { field: 'createdAt', op: 'LT', value: '2026-01-01T00:00:00+01:00' } }, { attribute: { field: 'createdAt', op: 'LT', value: '2026-01-01T00:00:00+01:00' } }),
    ok(
      { lastOrder: { filter: { since: new Date('2026-01-01T00:00:00Z'), until: '2026-02-01T00:00:00+00:00' }, withinDays: 90, olderThanDays: 30 } },
      { lastOrder: { filter: { since: '2026-01-01T00:00:00.000Z', until: '2026-02-01T00:00:00.000Z' }, olderThanDays: 30, withinDays: 90 } },
    ),
  ])('%j', (input, rule) => {
    expect(parseRule(input)).toEqual({ ok: true, rule });
  });
});

describe('parseRule rejects with the path of the offending field', () => {
  it.each([
    bad({}, '', /exactly one of all, any, not/),
    bad({ inSegment: '1', not: { inSegment: '2' } }, '', /exactly one field, got not and inSegment/),
    bad({ all: [] }, 'all', /at least one rule/),
    bad({ any: [{ inSegment: '1' }, {}] }, 'any[1]', /exactly one/),
    bad({ all: [{ not: { orderCount: { op: 'EQ', value: -1 } } }] }, 'all[0].not.orderCount.value', /negative/),
    bad({ orderCount: { op: 'IN', value: 1 } }, 'orderCount.op', /EQ, NEQ, GT, GTE, LT or LTE/),
    bad({ orderCount: { op: 'EQ', value: 1, filter: { withinDays: -5 } } }, 'orderCount.filter.withinDays', /negative/),
    bad({ orderCount: { op: 'EQ', value: 1, filter: { withinDays: 4000 } } }, 'orderCount.filter.withinDays', /at most 3650/),
    bad({ orderCount: { op: 'EQ', value: 1, filter: { storeIds: [] } } }, 'orderCount.filter.storeIds', /empty/),
    bad({ orderCount: { op: 'EQ', value: 1, filter: { storeIds: [''] } } }, 'orderCount.filter.storeIds[0]', /empty/),
    bad({ orderTotal: { op: 'EQ', value: 1, filter: { since: new Date('2026-02-01'), until: new Date('2026-01-01') } } }, 'orderTotal.filter.until', /after since/),
    bad({ lastOrder: {} }, 'lastOrder', /olderThanDays, withinDays or both/),
    bad({ lastOrder: { olderThanDays: -1 } }, 'lastOrder.olderThanDays', /negative/),
    bad({ lastOrder: { olderThanDays: 60, withinDays: 30 } }, 'lastOrder.withinDays', /greater than olderThanDays/),
    bad({ attribute: { field: 'email', op: 'EQ', value: 'x' } }, 'attribute.field', /country, city, createdAt or attributes/),
    bad({ attribute: { field: 'attributes.a b', op: 'EQ', value: 'x' } }, 'attribute.field', /attributes/),
    bad({ attribute: { field: 'country', op: 'GT', value: 'DE' } }, 'attribute.op', /EQ, NEQ, IN or NOT_IN/),
    bad({ attribute: { field: 'country', op: 'IN', value: 'DE' } }, 'attribute.values', /required with IN/),
    bad({ attribute: { field: 'country', op: 'EQ', values: ['DE'] } }, 'attribute.value', /required with EQ/),
    bad({ attribute: { field: 'createdAt', op: 'EQ', value: '2026-01-01T00:00:00Z' } }, 'attribute.op', /GT, GTE, LT or LTE/),
    bad({ attribute: { field: 'createdAt', op: 'GT', value: 'yesterday' } }, 'attribute.value', /RFC 3339/),
    bad({ attribute: { field: 'createdAt', op: 'GT', value: '2026-02-30T00:00:00Z' } }, 'attribute.value', /on the calendar/),
    bad({ orderCount: { filter: { since: '2026-04-31T00:00:00Z' }, op: 'GTE', value: 1 } }, 'orderCount.filter.since', /on the calendar/),
    bad({ attribute: { field: 'attributes.age', op: 'GT', value: 'old' } }, 'attribute.value', /number/),
    bad({ inSegment: 'abc' }, 'inSegment', /segment id/),
    // Above the largest Postgres integer: the same reader as GraphQL's segment ids refuses it.
    bad({ inSegment: '9999999999' }, 'inSegment', /segment id/),
    bad({ any: Array.from({ length: 51 }, () => ({ inSegment: '1' })) }, 'any', /at most 50/),
    bad(Array.from({ length: 8 }).reduce<unknown>((rule) => ({ not: rule }), { inSegment: '1' }), 'not.not.not.not.not.not.not.not', /deeper than 8/),
    bad({ all: Array.from({ length: 30 }, () => ({ all: [{ inSegment: '1' }, { inSegment: '2' }, { inSegment: '3' }] })) }, '', /more than 100 conditions/),
  ])('%j at %j', (input, path, message) => {
    const result = parseRule(input);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues).toContainEqual({ path, message: expect.stringMatching(message) });
  });
});

describe('rule facts', () => {
  it('lists referenced segments and whether orders are read', () => {
    const rule: Rule = { all: [{ inSegment: '1' }, { not: { any: [{ inSegment: '2' }, { lastOrder: { withinDays: 3 } }] } }] };
    expect([...referencedSegments(rule)].sort()).toEqual(['1', '2']);
    expect(readsOrders(rule)).toBe(true);
    expect(readsOrders({ not: { attribute: { field: 'country', op: 'EQ', value: 'DE' } } })).toBe(false);
  });
});
