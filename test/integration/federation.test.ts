import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMembers, createSegment } from '../helpers/fixtures.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { startSupergraph, type RunningSupergraph } from '../helpers/supergraph.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';
import { adminToken, readerToken } from '../helpers/tokens.js';

describe('the subgraph in a composed supergraph', () => {
  let stores: TestStores;
  let segmentsSubgraph: RunningSubgraph;
  let supergraph: RunningSupergraph;
  let vip: number;
  let lapsed: number;

  beforeAll(async () => {
    stores = await createTestStores();
    segmentsSubgraph = await startSubgraph(stores);
    vip = (await createSegment(stores, 'VIP')).id;
    lapsed = (await createSegment(stores, 'Lapsed')).id;
    await addMembers(stores, vip, ['c-ada', 'c-bob']);
    await addMembers(stores, lapsed, ['c-bob']);
    supergraph = await startSupergraph(segmentsSubgraph.url, { 'c-ada': 'Ada', 'c-bob': 'Bob', 'c-eve': 'Eve' });
  });
  afterAll(async () => {
    await supergraph?.stop();
    await segmentsSubgraph?.stop();
    await stores?.dispose();
  });

  it('answers a page query that mixes both subgraphs', async () => {
    const result = await execute(
      supergraph.url,
      `query ($id: ID!, $segment: ID!) {
        customer(id: $id) { name segments { id name } isInSegment(id: $segment) }
      }`,
      { id: 'c-bob', segment: String(lapsed) },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({
      customer: {
        name: 'Bob',
        segments: [
          { id: String(vip), name: 'VIP' },
          { id: String(lapsed), name: 'Lapsed' },
        ],
        isInSegment: true,
      },
    });
  });

  it('fills segment fields for a list of customers in one fetch from this subgraph', async () => {
    const result = await execute(
      supergraph.url,
      `{ customers { name isInSegment(id: "${vip}") segmentMemberships { since segment { name } } } }`,
    );
    expect(result.errors).toBeUndefined();
    expect(result.data!.customers).toEqual([
      { name: 'Ada', isInSegment: true, segmentMemberships: [{ since: '2026-01-15T10:00:00.000Z', segment: { name: 'VIP' } }] },
      {
        name: 'Bob',
        isInSegment: true,
        segmentMemberships: [
          { since: '2026-01-15T10:00:00.000Z', segment: { name: 'VIP' } },
          { since: '2026-01-15T10:00:00.000Z', segment: { name: 'Lapsed' } },
        ],
      },
      { name: 'Eve', isInSegment: false, segmentMemberships: [] },
    ]);
  });

  it('serves the Segment queries of this subgraph through the gateway, passing the token on', async () => {
    const result = await execute(supergraph.url, `{ segment(id: "${vip}") { name status } segments { totalCount } }`, {}, await readerToken());
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ segment: { name: 'VIP', status: 'ACTIVE' }, segments: { totalCount: 2 } });
  });

  it("passes the subgraph's BAD_USER_INPUT for variables nested too deep through the gateway", async () => {
    let rule: object = { lastOrder: { olderThanDays: 1 } };
    for (let i = 0; i < 100; i++) rule = { not: rule };
    const response = await fetch(supergraph.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await adminToken()}` },
      body: JSON.stringify({ query: 'mutation ($r: SegmentRuleInput!) { createSegment(input: { name: "deep", rule: $r }) { id } }', variables: { r: rule } }),
    });
    const body = (await response.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
    expect(body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect((await stores.pool.query(`SELECT count(*)::int AS n FROM segments WHERE name = 'deep'`)).rows[0].n).toBe(0);
  });
});
