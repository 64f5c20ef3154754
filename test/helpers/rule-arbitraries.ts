import fc from 'fast-check';
import type pg from 'pg';
import { evaluateRule, type CustomerFacts, type OrderFacts } from '../../src/rules/evaluate-rule.js';
import { parseRule } from '../../src/rules/parse-rule.js';
import { DAY_MS, type Rule } from '../../src/rules/rule.js';
import type { MembershipRepository } from '../../src/stores/postgres/membership-repository.js';

// Random rules and order histories for property tests of the rule compiler
// against the reference evaluator; fast-check looks for the counterexample.
// Rules may read segments 1 and 2 (inSegment): the tests create those two.
export const AS_OF = new Date('2026-06-01T12:00:00.000Z');
const STORES = ['s1', 's2', 's3', 's4', 's5']; // s5 never has orders

const WINDOWS = [0, 1, 7, 30, 60, 365];

// Instants that often sit exactly on a window's edge, or a millisecond either side.
export const instant = fc
  .tuple(fc.oneof(fc.constantFrom(...WINDOWS), fc.integer({ min: 0, max: 500 })), fc.constantFrom(0, 0, 1, -1, 3_600_000))
  .map(([days, offset]) => new Date(AS_OF.getTime() - days * DAY_MS + offset));
const windowDays = fc.constantFrom(...WINDOWS);

export interface History {
  customers: CustomerFacts[];
  orders: Array<OrderFacts & { customerId: string }>;
  members: Record<'1' | '2', Set<string>>;
}

export const history: fc.Arbitrary<History> = fc
  .integer({ min: 1, max: 20 })
  .chain((count) => {
    const ids = Array.from({ length: count }, (_, i) => `c${i}`);
    const customer = (id: string) =>
      fc.record({
        id: fc.constant(id),
        createdAt: instant,
        country: fc.constantFrom('DE', 'FR', null),
        city: fc.constantFrom('Berlin', 'Paris', null),
        attributes: fc.record(
          { tier: fc.constantFrom('gold', 'silver'), age: fc.oneof(fc.integer({ min: 18, max: 80 }), fc.constant('30')), vip: fc.boolean() },
          { requiredKeys: [] },
        ),
      });
    const order = fc.record({
      customerId: fc.constantFrom(...ids),
      storeId: fc.constantFrom('s1', 's2', 's3', 's4'),
      totalCents: fc.integer({ min: 0, max: 5000 }),
      createdAt: instant,
    });
    const members = fc.subarray(ids).map((list) => new Set(list));
    return fc.record({
      customers: fc.tuple(...ids.map(customer)),
      orders: fc.array(order, { maxLength: 60 }),
      members: fc.record({ '1': members, '2': members }),
    });
  });

const filter = fc.record(
  {
    storeIds: fc.subarray(STORES, { minLength: 1 }),
    withinDays: windowDays,
    since: instant.map((d) => d.toISOString()),
  },
  { requiredKeys: [] },
);
const scalarOp = fc.constantFrom('EQ', 'NEQ', 'GT', 'GTE', 'LT', 'LTE' as const);
const recency = fc
  .tuple(fc.option(windowDays, { nil: undefined }), fc.option(windowDays, { nil: undefined }))
  .filter(([older, within]) => (older !== undefined || within !== undefined) && (older === undefined || within === undefined || within > older))
  .map(([olderThanDays, withinDays]) => ({ olderThanDays, withinDays }));

const leaf: fc.Arbitrary<unknown> = fc.oneof(
  fc.record({ orderCount: fc.record({ filter: fc.option(filter, { nil: undefined }), op: scalarOp, value: fc.integer({ min: 0, max: 4 }) }) }),
  fc.record({ orderTotal: fc.record({ filter: fc.option(filter, { nil: undefined }), op: scalarOp, value: fc.integer({ min: 0, max: 8000 }) }) }),
  fc.record({ lastOrder: fc.tuple(recency, fc.option(filter, { nil: undefined })).map(([r, f]) => ({ ...r, filter: f })) }),
  fc.record({
    attribute: fc.oneof(
      fc.record({ field: fc.constantFrom('country', 'city', 'attributes.tier', 'attributes.vip', 'attributes.age'), op: fc.constantFrom('EQ', 'NEQ'), value: fc.constantFrom('DE', 'Berlin', 'gold', 'true', '30') }),
      fc.record({ field: fc.constantFrom('country', 'attributes.tier', 'attributes.age'), op: fc.constantFrom('IN', 'NOT_IN'), values: fc.subarray(['DE', 'FR', 'gold', '30', '45'], { minLength: 1 }) }),
      fc.record({ field: fc.constant('attributes.age'), op: fc.constantFrom('GT', 'GTE', 'LT', 'LTE'), value: fc.constantFrom('18', '30', '50.5') }),
      fc.record({ field: fc.constant('createdAt'), op: fc.constantFrom('GT', 'GTE', 'LT', 'LTE'), value: instant.map((d) => d.toISOString()) }),
    ),
  }),
  fc.record({ inSegment: fc.constantFrom('1', '2') }),
);

const { rule: ruleInput } = fc.letrec<{ rule: unknown }>((tie) => ({
  rule: fc.oneof(
    { depthSize: 'small', maxDepth: 4, withCrossShrink: true },
    leaf,
    fc.record({ all: fc.array(tie('rule'), { minLength: 1, maxLength: 3 }) }),
    fc.record({ any: fc.array(tie('rule'), { minLength: 1, maxLength: 3 }) }),
    fc.record({ not: tie('rule') }),
  ),
}));

// Rules within the language's limits (RULE_LIMITS), normalized as the API stores them.
export const rule = ruleInput
  .map((input) => parseRule(input))
  .filter((parsed) => parsed.ok)
  .map((parsed) => (parsed).rule);

/** The customers (of `ids`) the reference evaluator puts in `rule`, sorted. */
export function expected(rule: Rule, data: History, ids = data.customers.map((c) => c.id)): string[] {
  return data.customers
    .filter((c) => ids.includes(c.id))
    .filter((c) =>
      evaluateRule(rule, c, {
        asOf: AS_OF,
        orders: data.orders.filter((o) => o.customerId === c.id),
        isMember: (segmentId) => data.members[segmentId as '1' | '2']?.has(c.id) ?? false,
      }),
    )
    .map((c) => c.id)
    .sort();
}

/** Replaces the customers, orders and memberships of the test database with `data`. */
export async function loadHistory(pool: pg.Pool, memberships: MembershipRepository, data: History): Promise<void> {
  await pool.query('TRUNCATE customers, orders, segment_memberships');
  const c = data.customers;
  await pool.query(
    `INSERT INTO customers (id, created_at, country, city, attributes)
     SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::jsonb[])`,
    [c.map((x) => x.id), c.map((x) => x.createdAt), c.map((x) => x.country), c.map((x) => x.city), c.map((x) => JSON.stringify(x.attributes))],
  );
  const o = data.orders;
  await pool.query(
    `INSERT INTO orders (id, customer_id, store_id, total_cents, created_at)
     SELECT 'o' || n, customer_id, store_id, total_cents, created_at
       FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[]) WITH ORDINALITY AS t (customer_id, store_id, total_cents, created_at, n)`,
    [o.map((x) => x.customerId), o.map((x) => x.storeId), o.map((x) => x.totalCents), o.map((x) => x.createdAt)],
  );
  for (const segmentId of ['1', '2'] as const) {
    await memberships.add(Number(segmentId), [...data.members[segmentId]].map((customerId) => ({ customerId, since: AS_OF })));
  }
}
