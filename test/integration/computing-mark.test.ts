import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TimeMaintenanceRepository } from '../../src/stores/postgres/time-maintenance-repository.js';
import { EVALUATION_JOURNAL_RETENTION_MS } from '../../workers/time-maintenance.processor.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';
import { adminToken } from '../helpers/tokens.js';

const CREATE = `mutation ($input: CreateSegmentInput!) { createSegment(input: $input) { id } }`;
const ARCHIVE = `mutation ($id: ID!) { archiveSegment(id: $id) { status computeState } }`;
const RULE = { orderCount: { filter: { storeIds: ['store-A'] }, op: 'GTE', value: 1 } };

// A recompute marks its segment `computing_since`; while any mark is older than a
// journal entry, the entry is kept for it. A mark left on a segment no recompute will
// ever apply pinned the journal forever (issue 15).
describe('the computing mark of a segment archived while it computes', () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let admin: string;
  let segments = 0;

  const createRuleSegment = async () => {
    const result = await execute(subgraph.url, CREATE, { input: { name: `buyers ${++segments}`, rule: RULE } }, admin);
    return Number(result.data!.createSegment.id);
  };
  const computingSince = async (id: number) =>
    (await stores.pool.query<{ since: Date | null }>('SELECT computing_since AS since FROM segments WHERE id = $1', [id])).rows[0]!.since;
  const journal = async () => (await stores.pool.query<{ id: string }>('SELECT id FROM segment_evaluations ORDER BY id')).rows.map((r) => r.id);
  const journalEntry = async (segmentId: number, ago: string) =>
    (
      await stores.pool.query<{ id: string }>(
        `INSERT INTO segment_evaluations (segment_id, version, evaluated_at, customer_ids) VALUES ($1, 1, now() - $2::interval, '{c-1}') RETURNING id`,
        [segmentId, ago],
      )
    ).rows[0]!.id;

  beforeAll(async () => {
    stores = await createTestStores();
    subgraph = await startSubgraph(stores);
    admin = await adminToken();
    await stores.pool.query(`INSERT INTO customers (id) VALUES ('c-1'), ('c-2')`);
    await stores.pool.query(`INSERT INTO orders (id, customer_id, store_id, total_cents) VALUES ('o-1', 'c-1', 'store-A', 100)`);
  });
  afterAll(async () => {
    await subgraph?.stop();
    await stores?.dispose();
  });

  /**
   * Runs a recompute of `id` (what a segment-recompute job runs; no workers here, so the
   * test decides when it goes on) and `during` while it computes: orders are locked, so it
   * marks the segment, takes its snapshot and waits in its rule's SQL.
   */
  const whileRecomputing = async (id: number, during: () => Promise<void>) => {
    const blocker = await stores.pool.connect();
    let recomputing: ReturnType<typeof stores.recompute.run> | undefined;
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');
      recomputing = stores.recompute.run([id]);
      await expect
        .poll(async () => (await stores.pool.query(`SELECT 1 FROM pg_locks WHERE relation = 'orders'::regclass AND NOT granted`)).rowCount, {
          timeout: 10_000,
        })
        .toBeGreaterThan(0);
      expect(await computingSince(id)).not.toBeNull();
      await during();
    } finally {
      await blocker.query('COMMIT');
      blocker.release();
    }
    return (await recomputing).get(id);
  };

  it('is cleared by the archive, and the recompute that was computing then drops its result', async () => {
    const id = await createRuleSegment();
    expect((await stores.recompute.run([id])).get(id)).toMatchObject({ size: 1 });
    await stores.pool.query(`INSERT INTO orders (id, customer_id, store_id, total_cents) VALUES ('o-2', 'c-2', 'store-A', 100)`);

    const result = await whileRecomputing(id, async () => {
      const archived = await execute(subgraph.url, ARCHIVE, { id: String(id) }, admin);
      expect(archived.data).toEqual({ archiveSegment: { status: 'ARCHIVED', computeState: 'IDLE' } });
      expect(await computingSince(id)).toBeNull();
    });
    expect(result).toEqual({ skipped: 'not a live RULE segment' });
    expect(await computingSince(id)).toBeNull();
    const { rows } = await stores.pool.query('SELECT customer_id FROM segment_memberships WHERE segment_id = $1', [id]);
    expect(rows).toEqual([{ customer_id: 'c-1' }]);
  });

  it('is cleared by a recompute that finds its segment archived by a process that left the mark (an older version, mid-deploy)', async () => {
    const id = await createRuleSegment();
    expect((await stores.recompute.run([id])).get(id)).toMatchObject({ size: 2 });
    const result = await whileRecomputing(id, async () => {
      // What archiveSegment wrote before it cleared the mark.
      await stores.pool.query(`UPDATE segments SET status = 'ARCHIVED', updated_at = now() WHERE id = $1`, [id]);
    });
    expect(result).toEqual({ skipped: 'not a live RULE segment' });
    expect(await computingSince(id)).toBeNull();
  });

  it('no longer keeps journal entries past retention for segments that are not live RULE segments', async () => {
    const purge = () => new TimeMaintenanceRepository(stores.pool).purgeEvaluationJournal(EVALUATION_JOURNAL_RETENTION_MS);
    await stores.pool.query('TRUNCATE segment_evaluations');
    // A mark an archive left before it cleared marks, as deployments still hold it.
    const archived = await createRuleSegment();
    await execute(subgraph.url, ARCHIVE, { id: String(archived) }, admin);
    await stores.pool.query(`UPDATE segments SET computing_since = now() - interval '3 hours' WHERE id = $1`, [archived]);

    const old = await journalEntry(archived, '2 hours');
    const recent = await journalEntry(archived, '10 minutes');
    expect(await purge()).toBe(1);
    expect(await journal()).toEqual([recent]);
    expect(await journal()).not.toContain(old);

    // A live RULE segment computing for three hours still keeps what its recompute may need.
    const live = await createRuleSegment();
    await stores.pool.query(`UPDATE segments SET computing_since = now() - interval '3 hours' WHERE id = $1`, [live]);
    const needed = await journalEntry(live, '2 hours');
    const older = await journalEntry(live, '4 hours');
    expect(await purge()).toBe(1);
    expect(await journal()).toEqual([recent, needed]);
    expect(await journal()).not.toContain(older);
  });
});
