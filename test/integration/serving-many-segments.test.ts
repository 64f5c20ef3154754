import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rebuildServingStore } from '../../src/pipeline/rebuild-serving-store.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';

const SEGMENTS = 10_500;
const CUSTOMERS = 105; // each a member of 100 segments, together of every one
const ENTITIES = `query ($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { id segments { id name } segmentsFreshness { source } } } }`;

// Issue 15: "Segment names and statuses stay in the in-process catalog for every
// live segment, so a warm read still makes no Postgres query" at 10,000+ segments.
describe('serving customers whose memberships span more than 10,000 segments', () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let probe: pg.Client;
  const representations = Array.from({ length: CUSTOMERS }, (_, i) => ({ __typename: 'Customer', id: `c-${i}` }));

  /**
   * When each other backend of the test database last started a statement, as
   * Postgres itself reports it: a query on any connection (or a new
   * connection) changes it. Read on a connection of the test's own.
   */
  const statementStarts = async () =>
    new Map(
      (
        await probe.query<{ pid: number; started: string | null }>(
          `SELECT pid, query_start::text AS started FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
        )
      ).rows.map((r) => [r.pid, r.started]),
    );
  const read = async () => {
    const result = await execute(subgraph.url, ENTITIES, { r: representations });
    expect(result.errors).toBeUndefined();
    const customers = result.data!._entities as Array<{ id: string; segments: Array<{ id: string; name: string }>; segmentsFreshness: { source: string } }>;
    expect(new Set(customers.map((c) => c.segmentsFreshness.source))).toEqual(new Set(['REDIS']));
    return customers;
  };

  beforeAll(async () => {
    // Background re-reads of expired entries (every ttl, not waited for by any read) are left
    // out of the count by a ttl longer than the test; the unit tests cover them.
    // A Redis read slower than the serving timeout (a loaded CI machine) would fall back to Postgres,
    // which is a query: the timeout here is generous, and every read below must say it came from Redis.
    stores = await createTestStores({ serving: { segmentCacheTtlMs: 10 * 60_000, redisTimeoutMs: 5000 } });
    await stores.pool.query(`INSERT INTO segments (name) SELECT 'campaign ' || g FROM generate_series(1, $1::int) g`, [SEGMENTS]);
    await stores.pool.query(
      `INSERT INTO segment_memberships (segment_id, customer_id, since)
       SELECT id, 'c-' || (id % $1::int), now() FROM segments`,
      [CUSTOMERS],
    );
    await rebuildServingStore(stores.pool, stores.memberships, stores.servingStore);
    subgraph = await startSubgraph(stores);
    probe = new pg.Client({ connectionString: stores.namespace.databaseUrl });
    await probe.connect();
  }, 120_000);
  afterAll(async () => {
    await probe?.end();
    await subgraph?.stop();
    await stores?.dispose();
  });

  it('reads the segments once, then serves every read from Redis and the catalog alone', async () => {
    const cold = await statementStarts();
    const first = await read();
    const distinct = new Set(first.flatMap((c) => c.segments.map((s) => s.id)));
    expect(distinct.size).toBe(SEGMENTS);
    expect(first[1]!.segments.slice(0, 2)).toEqual([
      { id: '1', name: 'campaign 1' },
      { id: String(1 + CUSTOMERS), name: `campaign ${1 + CUSTOMERS}` },
    ]);
    // The measure sees the cold read's queries.
    expect(await statementStarts()).not.toEqual(cold);

    for (let i = 0; i < 3; i++) {
      const warm = await statementStarts();
      expect(await read()).toEqual(first);
      expect(await statementStarts()).toEqual(warm);
    }
  });
});
