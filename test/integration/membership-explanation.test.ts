import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMembers, archiveSegment, createSegment } from '../helpers/fixtures.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { startSupergraph, type RunningSupergraph } from '../helpers/supergraph.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';
import { adminToken, readerToken, token } from '../helpers/tokens.js';

// explainMembership through the composed supergraph (issue 9, item 1). No
// workers run here: what the rule says and what is served differ until the
// test publishes memberships as the workers would.
const STORES = ['store-00001', 'store-00004'];
const RULE = {
  all: [
    { orderCount: { filter: { storeIds: STORES, withinDays: 30 }, op: 'GTE', value: 3 } },
    { attribute: { field: 'country', op: 'IN', values: ['DE', 'FR'] } },
  ],
};

const EXPLAIN = `query ($segment: ID!, $customer: ID!) {
  explainMembership(segmentId: $segment, customerId: $customer) {
    segment { id name }
    customer { id name }
    member served since evaluatedAt
    clauses { path holds actual expected summary }
  }
  customer(id: $customer) { isInSegment(id: $segment) }
}`;
const CREATE = `mutation ($input: CreateSegmentInput!) { createSegment(input: $input) { id } }`;
const ADD = `mutation ($id: ID!, $ids: [ID!]!) { addSegmentMembers(id: $id, customerIds: $ids) { size } }`;

describe('explainMembership through the composed supergraph', () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let supergraph: RunningSupergraph;
  let reader: string;
  let segmentId: string;

  const explain = async (customer: string, segment = segmentId, bearer = reader) => {
    const result = await execute(supergraph.url, EXPLAIN, { segment, customer }, bearer);
    expect(result.errors).toBeUndefined();
    const explained = result.data!.explainMembership;
    // `served` is what Customer.isInSegment answers in the same operation.
    expect(explained.served).toBe(result.data!.customer.isInSegment);
    return explained;
  };

  beforeAll(async () => {
    stores = await createTestStores();
    subgraph = await startSubgraph(stores);
    supergraph = await startSupergraph(subgraph.url);
    reader = await readerToken();
    await stores.pool.query(`INSERT INTO customers (id, country) VALUES ('alice', 'DE'), ('bob', 'FR'), ('carol', NULL)`);
    await stores.pool.query(
      `INSERT INTO orders (id, customer_id, store_id, total_cents, created_at) VALUES
         ('o1', 'alice', 'store-00001', 1200, now() - interval '2 days'),
         ('o2', 'alice', 'store-00004', 800, now() - interval '10 days'),
         ('o3', 'alice', 'store-00001', 300, now() - interval '29 days'),
         ('o4', 'bob', 'store-00004', 500, now() - interval '3 days'),
         ('o5', 'bob', 'store-00001', 500, now() - interval '45 days'),
         ('o6', 'bob', 'store-00002', 500, now() - interval '1 day'),
         ('o7', 'dave', 'store-00001', 500, now() - interval '1 day')`,
    );
    const created = await execute(supergraph.url, CREATE, { input: { name: 'Partner store regulars', rule: RULE } }, await adminToken());
    expect(created.errors).toBeUndefined();
    segmentId = created.data!.createSegment.id;
  });
  afterAll(async () => {
    await supergraph?.stop();
    await subgraph?.stop();
    await stores?.dispose();
  });

  it('needs the segments:read scope', async () => {
    const anonymous = await execute(supergraph.url, EXPLAIN, { segment: segmentId, customer: 'alice' });
    expect(anonymous.errors!.map((e) => e.extensions!.code)).toEqual(['UNAUTHENTICATED']);
    const writerOnly = await execute(supergraph.url, EXPLAIN, { segment: segmentId, customer: 'alice' }, await token(['segments:write']));
    expect(writerOnly.errors!.map((e) => e.extensions!.code)).toEqual(['FORBIDDEN']);
  });

  it('explains a member clause by clause, served only once the worker has published', async () => {
    const before = await explain('alice');
    expect(before).toMatchObject({
      segment: { id: segmentId, name: 'Partner store regulars' },
      customer: { id: 'alice', name: 'Customer alice' }, // resolved by the customers subgraph
      member: true,
      served: false, // nothing has computed or published the segment yet
      since: null,
    });
    expect(Date.parse(before.evaluatedAt)).not.toBeNaN();
    expect(before.clauses).toEqual([
      { path: 'all', holds: true, actual: '2', expected: '2', summary: 'all 2 conditions hold' },
      {
        path: 'all[0].orderCount',
        holds: true,
        actual: '3',
        expected: 'at least 3',
        summary: 'orders at store-00001, store-00004 in the last 30 days: 3, needs at least 3',
      },
      { path: 'all[1].attribute', holds: true, actual: 'DE', expected: 'one of "DE", "FR"', summary: 'country: "DE", needs one of "DE", "FR"' },
    ]);

    // What the workers do once they have computed the segment.
    await addMembers(stores, Number(segmentId), ['alice'], new Date('2026-05-01T09:00:00.000Z'));
    expect(await explain('alice')).toMatchObject({ member: true, served: true, since: '2026-05-01T09:00:00.000Z' });
  });

  it('explains a non-member, and a served membership the rule no longer gives', async () => {
    const before = await explain('bob');
    expect(before).toMatchObject({ member: false, served: false, since: null });
    expect(before.clauses.map((c: { path: string; holds: boolean; summary: string }) => [c.path, c.holds, c.summary])).toEqual([
      ['all', false, '1 of 2 conditions holds, needs all 2'],
      ['all[0].orderCount', false, 'orders at store-00001, store-00004 in the last 30 days: 1, needs at least 3'],
      ['all[1].attribute', true, 'country: "FR", needs one of "DE", "FR"'],
    ]);

    // Served from an earlier computation (bob has since stopped ordering): the serving store lags the rule.
    await addMembers(stores, Number(segmentId), ['bob'], new Date('2026-04-01T00:00:00.000Z'));
    expect(await explain('bob')).toMatchObject({ member: false, served: true, since: '2026-04-01T00:00:00.000Z' });
  });

  it('explains customers without orders, and ones the service holds no record of', async () => {
    const carol = await explain('carol');
    expect(carol).toMatchObject({ member: false, served: false, since: null });
    expect(carol.clauses.slice(1)).toEqual([
      expect.objectContaining({ path: 'all[0].orderCount', holds: false, actual: '0' }),
      expect.objectContaining({ path: 'all[1].attribute', holds: false, actual: null, summary: 'country: missing, needs one of "DE", "FR"' }),
    ]);
    // dave has an order but no customer record: no rule selects him.
    const dave = await explain('dave');
    expect(dave).toMatchObject({ member: false, served: false, since: null });
    expect(dave.clauses).toEqual([expect.objectContaining({ path: 'all', holds: false, actual: null })]);
  });

  it('explains a STATIC segment by its list, before and after publication, and an archived one', async () => {
    const created = await execute(supergraph.url, CREATE, { input: { name: 'ML picks' } }, await adminToken());
    const staticId = created.data!.createSegment.id;
    // The mutation writes Postgres; with no worker running nothing reaches the serving store.
    expect((await execute(supergraph.url, ADD, { id: staticId, ids: ['carol'] }, await adminToken())).errors).toBeUndefined();
    expect(await explain('carol', staticId)).toMatchObject({
      member: true,
      served: false,
      clauses: [{ path: '', holds: true, actual: 'true', expected: 'true', summary: `listed in the members of STATIC segment ${staticId}: yes, needs yes` }],
    });
    expect(await explain('alice', staticId)).toMatchObject({ member: false, served: false, clauses: [{ path: '', holds: false }] });

    // Archived segments are explained all the same, and never served.
    const archived = await createSegment(stores, 'Retired picks');
    await addMembers(stores, archived.id, ['alice']);
    await archiveSegment(stores, archived.id);
    expect(await explain('alice', String(archived.id))).toMatchObject({ member: true, served: false, since: null });
  });

  it.each([
    ['an unknown segment', { segment: '999999', customer: 'alice' }, 'segmentId'],
    ['a segment id that is no id', { segment: 'abc', customer: 'alice' }, 'segmentId'],
    ['an empty customer id', { segment: '1', customer: '' }, 'customerId'],
    ['a customer id over 200 characters', { segment: '1', customer: 'x'.repeat(201) }, 'customerId'],
  ])('rejects %s with BAD_USER_INPUT naming the field', async (_case, variables, field) => {
    const result = await execute(supergraph.url, `query ($segment: ID!, $customer: ID!) { explainMembership(segmentId: $segment, customerId: $customer) { member } }`, variables, reader);
    expect(result.errors!.map((e) => e.extensions)).toEqual([expect.objectContaining({ code: 'BAD_USER_INPUT', field })]);
    expect(JSON.stringify(result.errors)).not.toMatch(/stack|at \w+ \(/);
  });
});
