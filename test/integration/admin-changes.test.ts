import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bullConnection } from '../../src/stores/redis/bull-connection.js';
import { createRecomputeQueue, refreshOffsetMs, type RecomputeQueue } from '../../src/jobs/recompute-queue.js';
import { storeCallDuration } from '../../src/platform/metrics/metrics.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { startSupergraph, type RunningSupergraph } from '../helpers/supergraph.js';
import { startTcpRelay, type TcpRelay } from '../helpers/tcp-relay.js';
import { createTestStores, REDIS_TARGET, TEST_REDIS_URL, type TestStores } from '../helpers/test-environment.js';
import { adminToken, token } from '../helpers/tokens.js';
import { startTestWorkers } from '../helpers/workers.js';
import type { RunningWorkers } from '../../workers/index.js';

const CREATE = `mutation ($input: CreateSegmentInput!) { createSegment(input: $input) { id name version kind status } }`;
const UPDATE = `mutation ($id: ID!, $input: UpdateSegmentInput!) { updateSegment(id: $id, input: $input) { id name version rule { orderCount { value } } } }`;
const ROLLBACK = `mutation ($id: ID!, $to: Int!) { rollbackSegment(id: $id, toVersion: $to) { id version rule { orderCount { value } } } }`;
const ARCHIVE = `mutation ($id: ID!) { archiveSegment(id: $id) { id status } }`;
const ADD = `mutation ($id: ID!, $ids: [ID!]!) { addSegmentMembers(id: $id, customerIds: $ids) { id size } }`;
const REMOVE = `mutation ($id: ID!, $ids: [ID!]!) { removeSegmentMembers(id: $id, customerIds: $ids) { id size } }`;
const SEGMENT = `query ($id: ID!) { segment(id: $id) { id name status version lastComputedAt
  history { action actor version changedFields restoredVersion rule { orderCount { value } } } } }`;
const PAGE = `query ($customer: ID!, $segment: ID!) { customer(id: $customer) { name isInSegment(id: $segment) segments { id } } }`;

const atLeast = (value: number) => ({ orderCount: { op: 'GTE', value } });

// Admin changes through the composed supergraph, with Redis reached through a
// relay the test can cut: the answers come from Postgres alone, and what the
// changes ask of the rest of the system waits in the segment outbox until the
// workers can carry it out.
describe('admin changes', () => {
  let redisRelay: TcpRelay;
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let supergraph: RunningSupergraph;
  let workers: RunningWorkers;
  let queue: RecomputeQueue;
  let admin: string;
  let names = 0;
  const run = (query: string, variables: Record<string, unknown> = {}, as = admin) => execute(supergraph.url, query, variables, as);
  const create = async (input: Record<string, unknown>) => {
    const result = await run(CREATE, { input: { name: `segment ${++names}`, ...input } });
    expect(result.errors).toBeUndefined();
    return result.data!.createSegment as { id: string; name: string; version: number };
  };
  const tables = async () =>
    (
      // Definitions only: the workers keep computing sizes meanwhile. An effect ever recorded moves the outbox's sequence.
      await stores.pool.query(`SELECT (SELECT count(*) FROM segment_versions) AS versions, (SELECT count(*) FROM segment_history) AS history,
        (SELECT count(*) FROM segment_create_requests) AS keys,
        (SELECT last_value FROM pg_sequences WHERE sequencename = 'segment_outbox_id_seq') AS effects,
        (SELECT json_agg(json_build_array(id, name, description, status, kind, rule, version, refresh_every_minutes) ORDER BY id) FROM segments) AS definitions`)
    ).rows[0];
  const pendingEffects = async () =>
    (await stores.pool.query(`SELECT segment_id AS "segmentId", effect FROM segment_outbox ORDER BY id`)).rows as Array<{ segmentId: number; effect: string }>;
  const outboxRelayBatches = async () =>
    (await storeCallDuration.get()).values.find((v) => v.metricName === 'segments_store_call_duration_seconds_count' && v.labels.call === 'outbox_relay')?.value ?? 0;
  const effectsCarriedOut = () => expect.poll(async () => (await pendingEffects()).length, { timeout: 15_000 }).toBe(0);

  beforeAll(async () => {
    redisRelay = await startTcpRelay(REDIS_TARGET);
    const redisUrl = `redis://127.0.0.1:${redisRelay.port}`;
    stores = await createTestStores({ redisUrl });
    subgraph = await startSubgraph(stores);
    supergraph = await startSupergraph(subgraph.url);
    workers = await startTestWorkers(stores);
    queue = createRecomputeQueue(bullConnection({ url: TEST_REDIS_URL }, 'segments-test-inspect'), stores.keys);
    admin = await adminToken();
  });
  afterAll(async () => {
    await redisRelay?.restore();
    await workers?.close();
    await queue?.close();
    await supergraph?.stop();
    await subgraph?.stop();
    await stores?.dispose();
    await redisRelay?.close();
  });

  describe('nothing half-done', () => {
    it('answers createSegment and archiveSegment from Postgres while Redis is unreachable; the workers carry out the rest once it is back', async () => {
      const retired = await create({ name: 'Retired while Redis is away' });
      expect((await run(ADD, { id: retired.id, ids: ['c-away'] })).errors).toBeUndefined();
      await effectsCarriedOut();
      await expect.poll(async () => (await run(PAGE, { customer: 'c-away', segment: retired.id })).data!.customer.isInSegment).toBe(true);
      // Each batch the relay carried out is timed, as the SegmentsOutboxEffectsStuck runbook reads it.
      expect(await outboxRelayBatches()).toBeGreaterThan(0);

      await redisRelay.refuse();
      try {
        const input = { name: 'Created while Redis is away', rule: atLeast(1), idempotencyKey: 'away-1' };
        const created = await run(CREATE, { input });
        expect(created.errors).toBeUndefined();
        const { id } = created.data!.createSegment;
        // The answer was lost, say: the retry finds the same segment instead of failing on the name.
        const retried = await run(CREATE, { input });
        expect(retried.errors).toBeUndefined();
        expect(retried.data!.createSegment.id).toBe(id);
        expect((await run(ARCHIVE, { id: retired.id })).data).toEqual({ archiveSegment: { id: retired.id, status: 'ARCHIVED' } });

        expect(await pendingEffects()).toEqual([
          { segmentId: Number(id), effect: 'announce-definition' },
          { segmentId: Number(id), effect: 'sync-schedule' },
          { segmentId: Number(id), effect: 'recompute' },
          { segmentId: Number(retired.id), effect: 'announce-definition' },
        ]);
        // This process stops serving the archived segment at once, even with Redis away (read from Postgres meanwhile).
        const page = await run(PAGE, { customer: 'c-away', segment: retired.id });
        expect(page.errors).toBeUndefined();
        expect(page.data!.customer).toMatchObject({ isInSegment: false, segments: [] });
        expect(await queue.getJobScheduler(`segment:${id}`)).toBeUndefined();
        expect((await run(SEGMENT, { id })).data!.segment.lastComputedAt).toBeNull();
      } finally {
        await redisRelay.restore();
      }
      await effectsCarriedOut();
      const [created] = (await stores.pool.query(`SELECT id FROM segments WHERE name = 'Created while Redis is away'`)).rows;
      // The safety net runs at the segment's own place in the day, so segments created together are not all recomputed at once.
      expect(await queue.getJobScheduler(`segment:${created.id}`)).toMatchObject({ every: 86_400_000, offset: refreshOffsetMs(created.id, 86_400_000) });
      // The first computation was asked for with the creation.
      await expect.poll(async () => (await run(SEGMENT, { id: String(created.id) })).data!.segment.lastComputedAt, { timeout: 15_000 }).not.toBeNull();
    });

    it('re-evaluates the RULE segments that read a STATIC segment when its members change', async () => {
      // Rules select customers the customers table knows.
      await stores.pool.query(`INSERT INTO customers (id) VALUES ('c-model-1'), ('c-model-2')`);
      const model = await create({ name: 'Model output' });
      const reader = await create({ rule: { inSegment: model.id } });
      await expect.poll(async () => (await run(SEGMENT, { id: reader.id })).data!.segment.lastComputedAt, { timeout: 15_000 }).not.toBeNull();

      expect((await run(ADD, { id: model.id, ids: ['c-model-1', 'c-model-2'] })).errors).toBeUndefined();
      const members = async () =>
        (await stores.pool.query('SELECT customer_id FROM segment_memberships WHERE segment_id = $1 ORDER BY 1', [Number(reader.id)])).rows.map((r) => r.customer_id);
      await expect.poll(members, { timeout: 15_000 }).toEqual(['c-model-1', 'c-model-2']);
      await expect.poll(async () => (await run(PAGE, { customer: 'c-model-1', segment: reader.id })).data!.customer.isInSegment).toBe(true);

      expect((await run(REMOVE, { id: model.id, ids: ['c-model-1'] })).errors).toBeUndefined();
      await expect.poll(members, { timeout: 15_000 }).toEqual(['c-model-2']);
      const causes = await stores.pool.query(
        `SELECT change, cause FROM segment_membership_events WHERE segment_id = $1 AND customer_id = 'c-model-1' ORDER BY id`,
        [Number(reader.id)],
      );
      expect(causes.rows).toEqual([{ change: 'ENTERED', cause: 'event' }, { change: 'LEFT', cause: 'event' }]);
    });
  });

  it('recomputes the RULE segments that read a STATIC segment after an import replaced its members', async () => {
    await stores.pool.query(`INSERT INTO customers (id) SELECT 'c-import-' || i FROM generate_series(1, 4) i`);
    const model = await create({ name: 'Imported model output' });
    const reader = await create({ rule: { inSegment: model.id } });
    await expect.poll(async () => (await run(SEGMENT, { id: reader.id })).data!.segment.lastComputedAt, { timeout: 15_000 }).not.toBeNull();
    const importList = async (ids: string[]) => {
      const response = await fetch(new URL(`/admin/segments/${model.id}/members`, subgraph.url), {
        method: 'PUT',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'text/csv' },
        body: ids.join('\n'),
      });
      expect(response.status).toBe(200);
      return response.json();
    };
    const members = async () =>
      (await stores.pool.query('SELECT customer_id FROM segment_memberships WHERE segment_id = $1 ORDER BY 1', [Number(reader.id)])).rows.map((r) => r.customer_id);

    expect(await importList(['c-import-1', 'c-import-2', 'c-import-3'])).toEqual({ size: 3, entered: 3, left: 0 });
    await expect.poll(members, { timeout: 15_000 }).toEqual(['c-import-1', 'c-import-2', 'c-import-3']);
    expect(await importList(['c-import-3', 'c-import-4'])).toEqual({ size: 2, entered: 1, left: 2 });
    await expect.poll(members, { timeout: 15_000 }).toEqual(['c-import-3', 'c-import-4']);
    await expect.poll(async () => (await run(PAGE, { customer: 'c-import-4', segment: reader.id })).data!.customer.isInSegment).toBe(true);
  });

  describe('safe edits', () => {
    it('refuses an update prepared against an older version with CONFLICT, changing nothing', async () => {
      const segment = await create({ rule: atLeast(2) });
      expect((await run(UPDATE, { id: segment.id, input: { rule: atLeast(3), expectedVersion: 1 } })).data!.updateSegment.version).toBe(2);
      const before = await tables();
      const stale = await run(UPDATE, { id: segment.id, input: { rule: atLeast(4), name: 'overwritten', expectedVersion: 1 } });
      expect(stale.data ?? null).toBeNull();
      expect(stale.errors).toHaveLength(1);
      expect(stale.errors![0]!.extensions).toMatchObject({ code: 'CONFLICT', field: 'input.expectedVersion', currentVersion: 2 });
      expect(await tables()).toEqual(before);
      expect((await run(UPDATE, { id: segment.id, input: { name: 'renamed', expectedVersion: 2 } })).data!.updateSegment).toMatchObject({ name: 'renamed', version: 2 });
    });

    it('rolls a rule back as a new version, recorded as a rollback, and recomputes it', async () => {
      const segment = await create({ rule: atLeast(1) });
      await run(UPDATE, { id: segment.id, input: { rule: atLeast(5) } });
      await effectsCarriedOut();
      const rolledBack = await run(ROLLBACK, { id: segment.id, to: 1 });
      expect(rolledBack.errors).toBeUndefined();
      expect(rolledBack.data!.rollbackSegment).toEqual({ id: segment.id, version: 3, rule: { orderCount: { value: 1 } } });
      const history = (await run(SEGMENT, { id: segment.id })).data!.segment.history;
      expect(history[0]).toEqual({
        action: 'ROLLED_BACK',
        actor: 'admin@test',
        version: 3,
        changedFields: ['rule'],
        restoredVersion: 1,
        rule: { orderCount: { value: 1 } },
      });
      // The recompute asked for computes version 3.
      await expect
        .poll(async () => (await stores.pool.query('SELECT version, last_computed_at >= rule_changed_at AS computed FROM segments WHERE id = $1', [Number(segment.id)])).rows[0], { timeout: 15_000 })
        .toEqual({ version: 3, computed: true });
    });

    it.each([
      [99, /versions 1 to 2, not 99/],
      [2, /current version/],
      [0, /1 or more/],
    ])('refuses a rollback to version %s with BAD_USER_INPUT at toVersion, changing nothing', async (to, message) => {
      const segment = await create({ rule: atLeast(1) });
      await run(UPDATE, { id: segment.id, input: { rule: atLeast(2) } });
      const before = await tables();
      const result = await run(ROLLBACK, { id: segment.id, to });
      expect(result.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'toVersion' });
      expect(result.errors![0]!.message).toMatch(message);
      expect(await tables()).toEqual(before);
    });

    it('refuses to roll back a STATIC segment, and needs segments:write', async () => {
      const segment = await create({});
      expect((await run(ROLLBACK, { id: segment.id, to: 1 })).errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'id' });
      const reader = await token(['segments:read']);
      expect((await run(ROLLBACK, { id: segment.id, to: 1 }, reader)).errors![0]!.extensions).toMatchObject({ code: 'FORBIDDEN' });
    });

    it('answers concurrent creates with the same idempotency key with one segment, and a reused key with other input with CONFLICT', async () => {
      const input = { name: 'Once only', rule: atLeast(2), idempotencyKey: 'create-once' };
      const answers = await Promise.all(Array.from({ length: 5 }, () => run(CREATE, { input })));
      expect(answers.map((a) => a.errors)).toEqual(Array(5).fill(undefined));
      expect(new Set(answers.map((a) => a.data!.createSegment.id)).size).toBe(1);
      expect((await stores.pool.query(`SELECT count(*)::int AS n FROM segments WHERE name = 'Once only'`)).rows[0].n).toBe(1);

      const before = await tables();
      const reused = await run(CREATE, { input: { ...input, rule: atLeast(3) } });
      expect(reused.errors![0]!.extensions).toMatchObject({ code: 'CONFLICT', field: 'input.idempotencyKey' });
      expect(await tables()).toEqual(before);
      // Keys belong to their caller: another admin's identical key is another request.
      const other = await run(CREATE, { input: { ...input, name: 'Once only, other admin' } }, await token(['segments:write'], { subject: 'other@test' }));
      expect(other.errors).toBeUndefined();
    });
  });
});
