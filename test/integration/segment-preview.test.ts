import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedOrderHistory } from '../../src/stores/postgres/order-history-seed.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { startSupergraph, type RunningSupergraph } from '../helpers/supergraph.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';
import { adminToken, readerToken, token } from '../helpers/tokens.js';

// The day-one segments of the product, as an admin writes them.
const STORES = ['store-00001', 'store-00004'];
const newToStores = { orderCount: { filter: { storeIds: STORES }, op: 'EQ', value: 0 } };
const recurrent = { orderCount: { filter: { storeIds: STORES, withinDays: 30 }, op: 'GTE', value: 3 } };
const inactive = (days: number) => ({ lastOrder: { olderThanDays: days } });

// The same segments written by hand in SQL, independently of the rule compiler.
const EXPECTED = {
  newToStores: `SELECT c.id FROM customers c
    WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.store_id = ANY($1))`,
  recurrent: `SELECT c.id FROM customers c JOIN orders o ON o.customer_id = c.id
    WHERE o.store_id = ANY($1) AND o.created_at >= now() - interval '30 days' GROUP BY c.id HAVING count(*) >= 3`,
  inactive: `SELECT c.id FROM customers c JOIN orders o ON o.customer_id = c.id
    GROUP BY c.id HAVING max(o.created_at) < now() - make_interval(days => $1)`,
};

const PREVIEW = `query ($rule: SegmentRuleInput!, $n: Int) { previewSegment(rule: $rule, sampleSize: $n) { size computedAt sample { id name } } }`;
const PREVIEW_CHANGE = `query ($id: ID!, $rule: SegmentRuleInput!) {
  previewSegmentChange(id: $id, rule: $rule, sampleSize: 5) { currentSize newSize entering leaving enteringSample { id name } leavingSample { id } }
}`;
const CREATE = `mutation ($input: CreateSegmentInput!) { createSegment(input: $input) { id name kind version } }`;
const UPDATE = `mutation ($id: ID!, $rule: SegmentRuleInput!) { updateSegment(id: $id, input: { rule: $rule }) { version } }`;

describe('day-one segments through the composed supergraph', () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let supergraph: RunningSupergraph;
  let admin: string;
  const ids = async (sql: string, values: unknown[]) => (await stores.pool.query<{ id: string }>(sql, values)).rows.map((r) => r.id);

  beforeAll(async () => {
    stores = await createTestStores();
    await seedOrderHistory(stores.pool, { customers: 3000, orders: 40_000, stores: 20 });
    subgraph = await startSubgraph(stores);
    supergraph = await startSupergraph(subgraph.url);
    admin = await adminToken();
  });
  afterAll(async () => {
    await supergraph?.stop();
    await subgraph?.stop();
    await stores?.dispose();
  });

  it.each([
    ['never ordered from these stores', newToStores, EXPECTED.newToStores, [STORES]],
    ['orders recurrently from these stores', recurrent, EXPECTED.recurrent, [STORES]],
    ['inactive for 60 days', inactive(60), EXPECTED.inactive, [60]],
  ])('previews "%s" with the size the data gives, and a sample of real members', async (_name, rule, sql, values) => {
    const expected = await ids(sql, values);
    expect(expected.length).toBeGreaterThan(10); // the seed makes every segment non-trivial

    const result = await execute(supergraph.url, PREVIEW, { rule, n: 10 }, admin);
    expect(result.errors).toBeUndefined();
    const preview = result.data!.previewSegment;
    expect(preview.size).toBe(expected.length);
    expect(preview.sample).toHaveLength(10);
    for (const customer of preview.sample) {
      expect(expected).toContain(customer.id);
      expect(customer.name).toBe(`Customer ${customer.id}`); // resolved by the customers subgraph
    }
  });

  it('counts customers who never ordered at all as new to any stores', async () => {
    const neverOrdered = await ids(`SELECT id FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id)`, []);
    expect(neverOrdered.length).toBe(600);
    const inNew = await ids(EXPECTED.newToStores, [STORES]);
    expect(neverOrdered.every((id) => inNew.includes(id))).toBe(true);
    const inInactive = await ids(EXPECTED.inactive, [60]);
    expect(neverOrdered.some((id) => inInactive.includes(id))).toBe(false);
  });

  it('creates the three segments, then previews a rule change as customers entering and leaving', async () => {
    for (const [name, rule] of [
      ['New to partner stores', newToStores],
      ['Partner store regulars', recurrent],
      ['Inactive 60 days', inactive(60)],
    ] as const) {
      const created = await execute(supergraph.url, CREATE, { input: { name, rule, refreshEveryMinutes: 30 } }, admin);
      expect(created.errors).toBeUndefined();
      expect(created.data!.createSegment).toMatchObject({ name, kind: 'RULE', version: 1 });
    }
    const { rows } = await stores.pool.query<{ id: number }>(`SELECT id FROM segments WHERE name = 'Inactive 60 days'`);
    const segmentId = rows[0]!.id;
    // Its current members, as a recompute would have left them.
    const current = await ids(EXPECTED.inactive, [60]);
    await stores.memberships.add(segmentId, current.map((customerId) => ({ customerId, since: new Date() })));

    const stricter = await ids(EXPECTED.inactive, [90]);
    const narrower = await execute(supergraph.url, PREVIEW_CHANGE, { id: String(segmentId), rule: inactive(90) }, admin);
    expect(narrower.errors).toBeUndefined();
    expect(narrower.data!.previewSegmentChange).toMatchObject({
      currentSize: current.length,
      newSize: stricter.length,
      entering: 0,
      leaving: current.length - stricter.length,
      enteringSample: [],
    });
    for (const { id } of narrower.data!.previewSegmentChange.leavingSample) {
      expect(current).toContain(id);
      expect(stricter).not.toContain(id);
    }

    const looser = await ids(EXPECTED.inactive, [30]);
    const wider = await execute(supergraph.url, PREVIEW_CHANGE, { id: String(segmentId), rule: inactive(30) }, admin);
    expect(wider.data!.previewSegmentChange).toMatchObject({ newSize: looser.length, entering: looser.length - current.length, leaving: 0 });
    expect(wider.data!.previewSegmentChange.enteringSample).toHaveLength(5);

    // Previews save nothing; the change itself makes version 2.
    expect((await stores.pool.query('SELECT count(*)::int AS n FROM segment_memberships WHERE segment_id = $1', [segmentId])).rows[0].n).toBe(current.length);
    const changed = await execute(supergraph.url, UPDATE, { id: String(segmentId), rule: inactive(90) }, admin);
    expect(changed.data).toEqual({ updateSegment: { version: 2 } });
  });

  it('refuses the same operations to tokens without the scopes', async () => {
    const reader = await readerToken();
    const writerOnly = await token(['segments:write']);
    const create = await execute(supergraph.url, CREATE, { input: { name: 'Not allowed', rule: inactive(10) } }, reader);
    expect(create.errors!.map((e) => e.extensions!.code)).toEqual(['FORBIDDEN']);
    const preview = await execute(supergraph.url, PREVIEW, { rule: inactive(10) }, writerOnly);
    expect(preview.errors!.map((e) => e.extensions!.code)).toEqual(['FORBIDDEN']);
    const anonymous = await execute(supergraph.url, PREVIEW, { rule: inactive(10) });
    expect(anonymous.errors!.map((e) => e.extensions!.code)).toEqual(['UNAUTHENTICATED']);
    expect((await stores.pool.query(`SELECT count(*)::int AS n FROM segments WHERE name = 'Not allowed'`)).rows[0].n).toBe(0);
  });

  it.each([
    ['a bad sample size', PREVIEW, { rule: inactive(10), n: 101 }, 'sampleSize'],
    ['a bad rule', PREVIEW, { rule: { lastOrder: {} } }, 'rule.lastOrder'],
    ['an unknown segment', PREVIEW_CHANGE, { id: '999', rule: inactive(10) }, 'id'],
  ])('rejects %s with BAD_USER_INPUT', async (_case, query, variables, field) => {
    const result = await execute(supergraph.url, query, variables, admin);
    expect(result.errors!.map((e) => e.extensions)).toEqual([expect.objectContaining({ code: 'BAD_USER_INPUT', field })]);
  });
});
