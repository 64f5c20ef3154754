import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningWorkers } from '../../workers/index.js';
import { insertRuleSegment, segmentSizes } from '../helpers/fixtures.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';
import { startTestWorkers } from '../helpers/workers.js';

/**
 * The event path's guarantees that do not show in the memberships alone
 * (issue 15): it evaluates with the rules that were live when its batch
 * started, announced or not, it never waits for a segment's row, and an old
 * order costs only the segments whose windows reach back to it.
 */
describe('the event path', () => {
  let stores: TestStores;
  let workers: RunningWorkers;
  let n = 0;

  const order = (customerId: string, storeId: string) =>
    stores.pool.query(`INSERT INTO orders (id, customer_id, store_id, total_cents) VALUES ($1, $2, $3, 1000)`, [`o-${++n}`, customerId, storeId]);
  const isMember = async (segmentId: number, customerId: string) =>
    (await stores.pool.query('SELECT 1 FROM segment_memberships WHERE segment_id = $1 AND customer_id = $2', [segmentId, customerId])).rowCount === 1;
  beforeAll(async () => {
    stores = await createTestStores();
    await stores.pool.query(`INSERT INTO customers (id, country) SELECT 'c-' || i, 'DE' FROM generate_series(1, 5) i`);
    // Reconciling schedules is what would recompute the silent segments: not during these tests.
    workers = await startTestWorkers(stores, { reconcileEveryMs: 3_600_000 });
  });
  afterAll(async () => {
    await workers?.close();
    await stores?.dispose();
  });

  it('evaluates a rule created or changed without any announcement with the next order', async () => {
    const segment = await insertRuleSegment(stores, { orderCount: { filter: { storeIds: ['s-1'] }, op: 'GTE', value: 1 } });
    await order('c-1', 's-1');
    await expect.poll(() => isMember(segment, 'c-1'), { timeout: 10_000 }).toBe(true);

    // A new version, written as a rule change commits it: the next batch uses it.
    await stores.pool.query(
      `WITH v AS (UPDATE segments SET rule = $2, version = version + 1 WHERE id = $1 RETURNING id, version)
       INSERT INTO segment_versions (segment_id, version, rule, created_by) SELECT id, version, $2, 'test' FROM v`,
      [segment, JSON.stringify({ orderCount: { filter: { storeIds: ['s-1'] }, op: 'GTE', value: 2 } })],
    );
    await order('c-1', 's-2'); // not a store of the new rule: nothing to evaluate for it
    await order('c-2', 's-1');
    await order('c-2', 's-1');
    await expect.poll(() => isMember(segment, 'c-2'), { timeout: 10_000 }).toBe(true);
    await order('c-1', 's-1');
    await expect.poll(async () => (await stores.pool.query('SELECT count(*)::int AS n FROM customer_change_outbox')).rows[0].n, { timeout: 10_000 }).toBe(0);
    expect(await isMember(segment, 'c-1')).toBe(true);
  });

  it('never waits for a segment row: memberships move while an admin holds it, and the size follows', async () => {
    const segment = await insertRuleSegment(stores, { orderCount: { filter: { storeIds: ['s-3'] }, op: 'GTE', value: 1 } });
    const admin = await stores.pool.connect();
    try {
      await admin.query('BEGIN');
      // As an admin change holds it (SegmentRepository.lock), until it commits.
      await admin.query('SELECT * FROM segments WHERE id = $1 FOR NO KEY UPDATE', [segment]);
      await order('c-3', 's-3');
      await order('c-4', 's-3');
      await expect.poll(async () => (await isMember(segment, 'c-3')) && (await isMember(segment, 'c-4')), { timeout: 10_000 }).toBe(true);
      // The size is exact at once: the deltas not folded into the row count.
      expect((await segmentSizes(stores, [segment])).get(segment)).toBe(2);
      await admin.query('COMMIT');
    } finally {
      admin.release();
    }
    // Folded into the row once it is free.
    await expect
      .poll(async () => (await stores.pool.query('SELECT size, (SELECT count(*)::int FROM segment_size_deltas WHERE segment_id = $1) AS pending FROM segments WHERE id = $1', [segment])).rows[0], {
        timeout: 10_000,
      })
      .toEqual({ size: 2, pending: 0 });
  });

  it('evaluates an old order only for the segments whose windows reach back to it', async () => {
    const recent = await insertRuleSegment(stores, { orderCount: { filter: { storeIds: ['s-5'], withinDays: 30 }, op: 'GTE', value: 1 } });
    const lapsed = await insertRuleSegment(stores, { lastOrder: { filter: { storeIds: ['s-5'] }, olderThanDays: 60 } });
    // Marked as while a recompute computes them, so that the event path journals which of them it evaluated.
    await stores.pool.query('UPDATE segments SET computing_since = now() WHERE id = ANY($1::int[])', [[recent, lapsed]]);
    const evaluated = async () =>
      (
        await stores.pool.query<{ segment_id: number }>(
          `SELECT DISTINCT segment_id FROM segment_evaluations, unnest(customer_ids) AS c WHERE c = 'c-5' AND segment_id = ANY($1::int[]) ORDER BY 1`,
          [[recent, lapsed]],
        )
      ).rows.map((r) => r.segment_id);
    try {
      // A backfilled order of three months ago: only "last order older than 60 days" reads that far.
      await stores.pool.query(`INSERT INTO orders (id, customer_id, store_id, total_cents, created_at) VALUES ($1, 'c-5', 's-5', 1000, now() - interval '90 days')`, [
        `o-${++n}`,
      ]);
      await expect.poll(() => isMember(lapsed, 'c-5'), { timeout: 10_000 }).toBe(true);
      expect(await evaluated()).toEqual([lapsed]);
      expect(await isMember(recent, 'c-5')).toBe(false);

      // An order of today reaches both.
      await order('c-5', 's-5');
      await expect.poll(async () => [await isMember(recent, 'c-5'), await isMember(lapsed, 'c-5')], { timeout: 10_000 }).toEqual([true, false]);
      expect(await evaluated()).toEqual([recent, lapsed].sort((a, b) => a - b));
    } finally {
      await stores.pool.query('UPDATE segments SET computing_since = NULL WHERE id = ANY($1::int[])', [[recent, lapsed]]);
    }
  });
});
