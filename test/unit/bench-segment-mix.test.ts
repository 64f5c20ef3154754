import { describe, expect, it } from 'vitest';
import { parseRule } from '../../src/rules/parse-rule.js';
import type { Rule } from '../../src/rules/rule.js';
import { CAMPAIGN_STORES, segmentMix, SEGMENT_MIXES, storeId } from '../../scripts/bench-segment-mix.js';

// One generator for the whole list, as the benchmark uses it.
const generate = segmentMix('campaign', 42);
const specs = Array.from({ length: 3000 }, (_, i) => generate(i + 1));
const popular = new Set(Array.from({ length: CAMPAIGN_STORES }, (_, i) => storeId(i + 1)));

type Filter = { storeIds?: string[]; withinDays?: number };
function kindOf(rule: Rule): { kind: string; filter: Filter } {
  if ('orderCount' in rule) return { kind: 'orderCount', filter: rule.orderCount.filter ?? {} };
  if ('orderTotal' in rule) return { kind: 'orderTotal', filter: rule.orderTotal.filter ?? {} };
  if ('lastOrder' in rule) return { kind: 'lastOrder', filter: rule.lastOrder.filter ?? {} };
  throw new Error(`not a campaign rule: ${JSON.stringify(rule)}`);
}

describe('the campaign mix (issue 15)', () => {
  it('is the same for the same seed, and another for another', () => {
    const again = segmentMix('campaign', 42);
    expect(Array.from({ length: 20 }, (_, i) => again(i + 1))).toEqual(specs.slice(0, 20));
    const other = segmentMix('campaign', 43);
    expect(Array.from({ length: 20 }, (_, i) => other(i + 1))).not.toEqual(specs.slice(0, 20));
  });

  it('is a third of each kind', () => {
    const counts: Record<string, number> = {};
    for (const { rule } of specs) counts[kindOf(rule).kind] = (counts[kindOf(rule).kind] ?? 0) + 1;
    expect(counts).toEqual({ orderCount: 1000, orderTotal: 1000, lastOrder: 1000 });
  });

  it('names 1-8 sorted, distinct stores among the 60 popular ones', () => {
    const sizes = new Set<number>();
    for (const { rule } of specs) {
      const stores = kindOf(rule).filter.storeIds!;
      sizes.add(stores.length);
      expect(stores).toEqual([...new Set(stores)].sort());
      for (const store of stores) expect(popular.has(store)).toBe(true);
    }
    expect([...sizes].sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it.each([
    ['orderCount', (r: Rule) => 'orderCount' in r && r.orderCount.op === 'GTE', (r: any) => r.orderCount.value, [1, 4], (r: any) => r.orderCount.filter.withinDays, [7, 90]],
    ['orderTotal', (r: Rule) => 'orderTotal' in r && r.orderTotal.op === 'GT', (r: any) => r.orderTotal.value, [2000, 22000], (r: any) => r.orderTotal.filter.withinDays, [14, 170]],
    ['lastOrder', (r: Rule) => 'lastOrder' in r && r.lastOrder.withinDays === undefined, (r: any) => r.lastOrder.olderThanDays, [20, 120], () => 0, [0, 0]],
  ] as const)('draws %s parameters over their whole range', (kind, shape, value, valueRange, days, daysRange) => {
    const rules = specs.map((s) => s.rule).filter((r) => kindOf(r).kind === kind);
    for (const rule of rules) expect(shape(rule)).toBe(true);
    const values = rules.map(value);
    const windows = rules.map(days);
    expect([Math.min(...values), Math.max(...values)]).toEqual(valueRange);
    expect([Math.min(...windows), Math.max(...windows)]).toEqual(daysRange);
  });

  it('sends rules as the parser normalizes them: what is stored is what was sent', () => {
    for (const { rule } of specs.slice(0, 500)) expect(parseRule(rule)).toEqual({ ok: true, rule });
  });
});

describe('every mix', () => {
  it.each(SEGMENT_MIXES)('%s: every rule is valid and every name distinct', (mix) => {
    const next = segmentMix(mix, 42);
    const list = Array.from({ length: 500 }, (_, i) => next(i + 1));
    for (const { rule } of list) expect(parseRule(rule)).toMatchObject({ ok: true });
    expect(new Set(list.map((s) => s.name.toLowerCase())).size).toBe(list.length);
    for (const { name } of list) expect(name.length).toBeLessThanOrEqual(100);
  });
});
