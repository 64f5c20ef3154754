import { describe, expect, it } from 'vitest';
import { CompiledRules, RuleEvaluationError, type OrderInput } from '../../src/rules/compiled-rules.js';
import { CustomerEvaluation } from '../../src/rules/customer-evaluation.js';
import { DAY_MS, type Rule } from '../../src/rules/rule.js';

const AS_OF = new Date('2026-06-01T12:00:00.000Z');
const daysAgo = (days: number, store = 's1', totalCents = 1000): OrderInput => ({
  storeId: store,
  totalCents,
  createdAtMicros: (AS_OF.getTime() - days * DAY_MS) * 1000,
});
const CUSTOMER = { createdAtMicros: null, country: 'DE', city: null, attributes: { tier: ['string', 'gold'], age: ['number', '30.50'] } } as const;

function evaluate(rules: Rule[], orders: OrderInput[]) {
  const compiled = new CompiledRules();
  const programs = rules.map((rule, i) => compiled.compile(i + 1, 1, rule));
  const customer = new CustomerEvaluation(compiled, AS_OF, CUSTOMER, orders, new Set());
  return { verdicts: programs.map((p) => customer.evaluate(p)), aggregates: customer.aggregatesComputed };
}

describe('compiled rules', () => {
  // One line a case: rules, orders, verdicts, distinct aggregates computed for the customer.
  it.each<[string, Rule[], OrderInput[], boolean[], number]>([
    ['inactive N days share the latest order of any store', [30, 60, 90].map((d) => ({ lastOrder: { olderThanDays: d } })), [daysAgo(45)], [true, false, false], 1],
    ['thresholds on one store set share one count', [1, 2, 3].map((n) => ({ orderCount: { filter: { storeIds: ['s1', 's2'] }, op: 'GTE', value: n } })), [daysAgo(1), daysAgo(2, 's2'), daysAgo(3, 's3')], [true, true, false], 1],
    ['count and total of one filter share it', [{ orderCount: { filter: { withinDays: 7 }, op: 'GTE', value: 2 } }, { orderTotal: { filter: { withinDays: 7 }, op: 'GT', value: 1500 } }], [daysAgo(1), daysAgo(6.9)], [true, true], 1],
    ['another window is another aggregate', [{ orderCount: { filter: { withinDays: 7 }, op: 'GTE', value: 1 } }, { orderCount: { filter: { withinDays: 30 }, op: 'GTE', value: 2 } }], [daysAgo(8), daysAgo(20)], [false, true], 2],
    ['a window edge to the microsecond is inside', [{ orderCount: { filter: { withinDays: 7 }, op: 'EQ', value: 1 } }], [daysAgo(7)], [true], 1],
    ['no matching order: a latest order matches nothing', [{ lastOrder: { filter: { storeIds: ['s9'] }, withinDays: 30 } }, { not: { lastOrder: { filter: { storeIds: ['s9'] }, withinDays: 30 } } }], [daysAgo(1)], [false, true], 1],
    ['attributes need no aggregate', [{ attribute: { field: 'country', op: 'EQ', value: 'DE' } }, { attribute: { field: 'attributes.age', op: 'GT', value: '30.5' } }, { attribute: { field: 'attributes.age', op: 'GTE', value: '30.5' } }, { attribute: { field: 'attributes.tier', op: 'GT', value: '1' } }, { attribute: { field: 'city', op: 'NEQ', value: 'Paris' } }], [], [true, false, true, false, false], 0],
  ])('%s', (_, rules, orders, verdicts, aggregates) => {
    expect(evaluate(rules, orders)).toEqual({ verdicts, aggregates });
  });

  it('refuses, as Postgres would at run time, a date that is not on the calendar', () => {
    const rules = new CompiledRules();
    expect(() => rules.compile(1, 1, { orderCount: { filter: { since: '2026-02-30T00:00:00Z' }, op: 'GTE', value: 1 } })).toThrow(RuleEvaluationError);
    expect(() => rules.compile(2, 1, { attribute: { field: 'createdAt', op: 'GT', value: '2026-02-30T00:00:00Z' } })).toThrow(/date\/time field value out of range/);
  });

  it('compiles a segment version once and a new version again', () => {
    const rules = new CompiledRules();
    const first = rules.compile(1, 1, { orderCount: { op: 'GTE', value: 1 } });
    expect(rules.compile(1, 1, { orderCount: { op: 'GTE', value: 1 } })).toBe(first);
    expect(rules.compile(1, 2, { orderCount: { op: 'GTE', value: 2 } })).not.toBe(first);
  });
});
