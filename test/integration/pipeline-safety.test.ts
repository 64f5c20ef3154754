import { Worker } from 'bullmq';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bullConnection } from '../../src/stores/redis/bull-connection.js';
import { RECOMPUTE_QUEUE, recomputeRequests, refreshOffsetMs } from '../../src/jobs/recompute-queue.js';
import { seedOrderHistory } from '../../src/stores/postgres/order-history-seed.js';
import type { RunningWorkers } from '../../workers/index.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, TEST_REDIS_URL, type TestStores } from '../helpers/test-environment.js';
import { adminToken } from '../helpers/tokens.js';
import { startTestWorkers } from '../helpers/workers.js';

const CREATE = `mutation ($input: CreateSegmentInput!) { createSegment(input: $input) { id } }`;
const SEGMENT = `query ($id: ID!) { segment(id: $id) { id size lastComputedAt lastComputeError } }`;
// Passes no validation today (2026 has no 30th of February), but may have been stored before validation knew.
const BROKEN_RULE = { all: [{ orderCount: { op: 'GTE', value: 1 } }, { attribute: { field: 'createdAt', op: 'GT', value: '2026-02-30T00:00:00Z' } }] };

describe('the pipeline when something goes wrong', () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let workers: RunningWorkers | undefined;
  let admin: string;
  const logLines: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    stores = await createTestStores();
    await seedOrderHistory(stores.pool, { customers: 500, orders: 5000, stores: 8 });
    subgraph = await startSubgraph(stores);
    // The workers' log, as JSON lines, to check what an operator would see.
    const logger = pino(
      { level: 'warn' },
      new Writable({
        write(chunk, _encoding, done) {
          for (const line of String(chunk).split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
          done();
        },
      }),
    );
    // Schedulers are reconciled at start only here, so the legacy segment below meets the event path first.
    workers = await startTestWorkers(stores, { logger, reconcileEveryMs: 3_600_000 });
    admin = await adminToken();
  }, 60_000);
  afterAll(async () => {
    await workers?.close();
    await subgraph?.stop();
    await stores?.dispose();
  });

  it('refuses a rule with a date that is not on the calendar, with the path of the offending field', async () => {
    const result = await execute(subgraph.url, CREATE, { input: { name: 'broken', rule: BROKEN_RULE } }, admin);
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.rule.all[1].attribute.value' });
    expect((await stores.pool.query(`SELECT count(*)::int AS n FROM segments`)).rows[0].n).toBe(0);
  });

  it('quarantines a stored rule that fails at run time, and keeps evaluating the others', async () => {
    const healthy = Number((await execute(subgraph.url, CREATE, { input: { name: 'ordered', rule: { orderCount: { op: 'GTE', value: 1 } } } }, admin)).data!.createSegment.id);
    // A rule stored before validation refused such dates, written as the migration of old data would.
    const { rows } = await stores.pool.query<{ id: number }>(
      `WITH s AS (INSERT INTO segments (name, kind, rule, refresh_every_minutes) VALUES ('legacy', 'RULE', $1, 60) RETURNING id)
       INSERT INTO segment_versions (segment_id, version, rule, created_by) SELECT id, 1, $1, 'legacy' FROM s RETURNING segment_id AS id`,
      [JSON.stringify(BROKEN_RULE)],
    );
    const broken = rows[0]!.id;
    await stores.segmentChanges.publish([broken]);
    await expect.poll(async () => (await execute(subgraph.url, SEGMENT, { id: String(healthy) }, admin)).data!.segment.lastComputedAt, { timeout: 10_000 }).not.toBeNull();

    // An order of a customer with none: the healthy segment takes them in; the broken rule fails and is quarantined.
    const { rows: idle } = await stores.pool.query<{ id: string }>(
      `SELECT id FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id) ORDER BY id LIMIT 1`,
    );
    const customer = idle[0]!.id;
    await stores.pool.query(`INSERT INTO orders (id, customer_id, store_id, total_cents) VALUES ('q-1', $1, 'store-00001', 900)`, [customer]);
    await expect
      .poll(async () => (await stores.pool.query('SELECT 1 FROM segment_memberships WHERE segment_id = $1 AND customer_id = $2', [healthy, customer])).rowCount, {
        timeout: 10_000,
      })
      .toBe(1);
    const state = await execute(subgraph.url, SEGMENT, { id: String(broken) }, admin);
    expect(state.data!.segment.lastComputeError).toMatch(/could not be evaluated.*date\/time field value out of range/);
    expect((await stores.pool.query('SELECT quarantined_at FROM segments WHERE id = $1', [broken])).rows[0].quarantined_at).not.toBeNull();
    expect(logLines.some((l) => l.msg === 'segment quarantined: its rule fails at run time' && l.segmentId === broken)).toBe(true);

    // Later orders go on being evaluated for the healthy segment, without retrying the broken one.
    const before = logLines.length;
    await stores.pool.query(`DELETE FROM orders WHERE id = 'q-1'`);
    await expect
      .poll(async () => (await stores.pool.query('SELECT 1 FROM segment_memberships WHERE segment_id = $1 AND customer_id = $2', [healthy, customer])).rowCount, {
        timeout: 10_000,
      })
      .toBe(0);
    expect(logLines.slice(before).filter((l) => l.level === 50)).toEqual([]);

    // Its full recompute fails too, alone, without retries, and says why.
    await execute(subgraph.url, `mutation ($id: ID!) { recomputeSegment(id: $id) { id } }`, { id: String(broken) }, admin);
    const failedJobs = async () => (await subgraph.recomputeQueue.getFailed()).filter((job) => job.data.segmentId === broken && !String(job.id).startsWith('repeat:'));
    await expect.poll(async () => (await failedJobs()).length, { timeout: 10_000 }).toBe(1);
    expect((await failedJobs())[0]).toMatchObject({ attemptsMade: 1, failedReason: expect.stringMatching(/could not be evaluated/) });
    expect((await execute(subgraph.url, SEGMENT, { id: String(broken) }, admin)).data!.segment.lastComputeError).toMatch(/could not be evaluated/);
    expect((await execute(subgraph.url, SEGMENT, { id: String(healthy) }, admin)).data!.segment.lastComputeError).toBeNull();
  });

  it('runs a recompute requested while one of the same segment is running again afterwards', async () => {
    // A worker of our own holds the first recompute active until released.
    await workers!.close();
    workers = undefined;
    const requests = recomputeRequests(subgraph.recomputeQueue);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const seen: number[] = [];
    const holder = new Worker(
      RECOMPUTE_QUEUE,
      async (job) => {
        seen.push(job.data.segmentId);
        if (seen.length === 1) await released;
      },
      { connection: bullConnection({ url: TEST_REDIS_URL }, 'test'), prefix: stores.keys.bullPrefix(RECOMPUTE_QUEUE) },
    );
    try {
      await requests.request(999);
      await expect.poll(() => seen.length, { timeout: 5_000 }).toBe(1);
      await requests.request(999); // while the first runs: kept for afterwards
      await requests.request(999); // collapses into the one kept
      release();
      await expect.poll(() => seen, { timeout: 5_000 }).toEqual([999, 999]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(seen).toEqual([999, 999]);
    } finally {
      await holder.close();
    }
  });

  it('puts schedulers and the serving keys back when Redis loses them while the workers run', async () => {
    const { rows } = await stores.pool.query<{ id: number; every: number }>(
      `SELECT id, refresh_every_minutes * 60000 AS every FROM segments WHERE kind = 'RULE' AND status = 'ACTIVE' ORDER BY id`,
    );
    // A schedule installed before schedules were spread over their period is moved to the segment's place at start.
    await subgraph.recomputeQueue.removeJobScheduler(`segment:${rows[0]!.id}`);
    await subgraph.recomputeQueue.upsertJobScheduler(`segment:${rows[0]!.id}`, { every: rows[0]!.every, offset: 12_345 }, { name: 'recompute-segment', data: { segmentId: rows[0]!.id } });
    workers = await startTestWorkers(stores, { reconcileEveryMs: 300 });
    const moved = await subgraph.recomputeQueue.getJobScheduler(`segment:${rows[0]!.id}`);
    expect(moved).toMatchObject({ every: rows[0]!.every, offset: refreshOffsetMs(rows[0]!.id, rows[0]!.every) });
    // Its next run too, not only the offset it records.
    expect(moved!.next! % rows[0]!.every).toBe(refreshOffsetMs(rows[0]!.id, rows[0]!.every));
    const member = (await stores.pool.query<{ customer_id: string; segment_id: number }>('SELECT customer_id, segment_id FROM segment_memberships LIMIT 1')).rows[0]!;
    const keys = await stores.redis.keys(`${stores.keys.prefix}*`);
    await stores.redis.unlink(...keys);

    await expect
      .poll(async () => {
        const schedulers = [
          ...(await subgraph.recomputeQueue.getJobSchedulers(0, -1)).map((s) => s.key),
          ...(await subgraph.maintenanceQueue.getJobSchedulers(0, -1)).map((s) => s.key),
        ];
        return schedulers.sort();
      }, { timeout: 10_000 })
      .toEqual([...rows.map((r) => `segment:${r.id}`), 'membership-retention', 'serving-store-check', 'time-maintenance'].sort());
    for (const { id, every } of rows) {
      expect(await subgraph.recomputeQueue.getJobScheduler(`segment:${id}`)).toMatchObject({ every, offset: refreshOffsetMs(id, every) });
    }
    await expect.poll(() => stores.redis.hexists(stores.keys.customer(member.customer_id), String(member.segment_id)), { timeout: 10_000 }).toBe(1);
  });
});
