import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { addMembers } from '../helpers/fixtures.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';
import { adminToken } from '../helpers/tokens.js';
import { startSegmentOutboxRelay, type RunningRelay } from '../helpers/workers.js';

const SEGMENT_FIELDS = `id name description status kind version refreshEveryMinutes size
  rule { lastOrder { olderThanDays withinDays filter { storeIds since } } inSegment all { inSegment lastOrder { olderThanDays } } orderCount { op value filter { storeIds withinDays } } }`;
const CREATE = `mutation ($input: CreateSegmentInput!) { createSegment(input: $input) { ${SEGMENT_FIELDS} } }`;
const UPDATE = `mutation ($id: ID!, $input: UpdateSegmentInput!) { updateSegment(id: $id, input: $input) { ${SEGMENT_FIELDS} } }`;
const ARCHIVE = `mutation ($id: ID!) { archiveSegment(id: $id) { id status } }`;
const RECOMPUTE = `mutation ($id: ID!) { recomputeSegment(id: $id) { id } }`;
const ADD = `mutation ($id: ID!, $ids: [ID!]!) { addSegmentMembers(id: $id, customerIds: $ids) { id size } }`;
const REMOVE = `mutation ($id: ID!, $ids: [ID!]!) { removeSegmentMembers(id: $id, customerIds: $ids) { id size } }`;
const HISTORY = `query ($id: ID!) { segment(id: $id) { history { action actor version changedFields customerCount rule { lastOrder { olderThanDays } orderCount { value } } } } }`;
const ENTITIES = `query ($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { id segments { id name } } } }`;

const inactive = { lastOrder: { olderThanDays: 60 } };

describe('segment administration', () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let relay: RunningRelay;
  let admin: string;
  let names = 0;
  const run = (query: string, variables: Record<string, unknown> = {}) => execute(subgraph.url, query, variables, admin);
  const create = async (input: Record<string, unknown>) => {
    const result = await run(CREATE, { input: { name: `segment ${++names}`, ...input } });
    expect(result.errors).toBeUndefined();
    return result.data!.createSegment;
  };
  const tables = async () =>
    (
      await stores.pool.query(`SELECT (SELECT count(*) FROM segments) AS segments, (SELECT count(*) FROM segment_versions) AS versions,
        (SELECT count(*) FROM segment_history) AS history, (SELECT count(*) FROM segment_memberships) AS memberships,
        (SELECT count(*) FROM segment_dependencies) AS dependencies`)
    ).rows[0];
  /** Waits until the relay carried out every side effect recorded so far. */
  const effectsCarriedOut = () => expect.poll(async () => (await stores.pool.query('SELECT count(*)::int AS n FROM segment_outbox')).rows[0].n).toBe(0);
  const expectBadInput = (result: Awaited<ReturnType<typeof run>>, field: string, message?: RegExp) => {
    expect(result.data ?? null).toBeNull();
    expect(result.errors).toHaveLength(1);
    expect(result.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    if (message) expect(result.errors![0]!.message).toMatch(message);
  };

  beforeAll(async () => {
    stores = await createTestStores();
    subgraph = await startSubgraph(stores);
    // Only the relay of the workers: it carries out what the mutations recorded, and the jobs it queues stay to be inspected.
    relay = startSegmentOutboxRelay(stores, subgraph.recomputeQueue);
    admin = await adminToken();
  });
  afterAll(async () => {
    await relay?.stop();
    await subgraph?.stop();
    await stores?.dispose();
  });

  describe('createSegment', () => {
    it('creates a RULE segment with its normalized rule and schedules its recompute', async () => {
      const segment = await create({
        name: 'Inactive regulars',
        description: 'ordered before, nothing for 60 days',
        rule: { lastOrder: { olderThanDays: 60, filter: { storeIds: ['s2', 's1', 's2'], since: '2025-01-01T01:00:00+01:00' } } },
      });
      expect(segment).toMatchObject({
        name: 'Inactive regulars',
        status: 'ACTIVE',
        kind: 'RULE',
        version: 1,
        refreshEveryMinutes: 1440,
        size: 0,
        rule: { lastOrder: { olderThanDays: 60, withinDays: null, filter: { storeIds: ['s1', 's2'], since: '2025-01-01T00:00:00.000Z' } } },
      });
      await expect
        .poll(() => subgraph.recomputeQueue.getJobScheduler(`segment:${segment.id}`))
        .toMatchObject({ every: 86_400_000, template: { data: { segmentId: Number(segment.id) } } });
      expect((await run(HISTORY, { id: segment.id })).data!.segment.history).toEqual([
        { action: 'CREATED', actor: 'admin@test', version: 1, changedFields: [], customerCount: null, rule: { lastOrder: { olderThanDays: 60 }, orderCount: null } },
      ]);
    });

    it('serves a new segment even where its id was looked up before it existed', async () => {
      const { rows } = await stores.pool.query(
        `SELECT coalesce(last_value, 0) + 1 AS next FROM pg_sequences WHERE sequencename = 'segments_id_seq'`,
      );
      const nextId = String(rows[0].next);
      expect((await run(`query ($id: ID!) { segment(id: $id) { id } }`, { id: nextId })).data).toEqual({ segment: null });
      const segment = await create({ name: 'Created late' });
      expect(segment.id).toBe(nextId);
      await addMembers(stores, Number(segment.id), ['c-late']);
      const served = async () => (await run(ENTITIES, { r: [{ __typename: 'Customer', id: 'c-late' }] })).data!._entities[0].segments;
      await expect.poll(served).toEqual([{ id: segment.id, name: 'Created late' }]);
    });

    it('creates a STATIC segment when no rule is given, with no schedule', async () => {
      const segment = await create({ refreshEveryMinutes: null });
      expect(segment).toMatchObject({ kind: 'STATIC', rule: null, refreshEveryMinutes: null, version: 1 });
      await effectsCarriedOut();
      expect(await subgraph.recomputeQueue.getJobScheduler(`segment:${segment.id}`)).toBeUndefined();
    });

    it('keeps names unique among live segments, ignoring case', async () => {
      const first = await create({ name: 'Lunch lovers' });
      const before = await tables();
      expectBadInput(await run(CREATE, { input: { name: ' lunch LOVERS ' } }), 'input.name', /already the name/);
      expect(await tables()).toEqual(before);
      await run(ARCHIVE, { id: first.id });
      expect((await run(CREATE, { input: { name: 'Lunch lovers' } })).errors).toBeUndefined();
    });

    it.each([
      ['an empty name', { name: '' }, 'input.name', /empty/],
      ['a long name', { name: 'x'.repeat(101) }, 'input.name', /at most 100/],
      ['a long description', { name: 'ok', description: 'd'.repeat(1001) }, 'input.description', /at most 1000/],
      ['a zero refresh period', { name: 'ok', rule: inactive, refreshEveryMinutes: 0 }, 'input.refreshEveryMinutes', /between 15 and 10080/],
      ['a refresh period under 15 minutes', { name: 'ok', rule: inactive, refreshEveryMinutes: 14 }, 'input.refreshEveryMinutes', /between 15 and 10080/],
      ['a refresh period without a rule', { name: 'ok', refreshEveryMinutes: 5 }, 'input.refreshEveryMinutes', /only to segments with a rule/],
      ['an empty rule', { name: 'ok', rule: {} }, 'input.rule', /exactly one of/],
      ['a node with two fields', { name: 'ok', rule: { inSegment: '1', lastOrder: { olderThanDays: 3 } } }, 'input.rule', /exactly one field/],
      ['a negative window', { name: 'ok', rule: { lastOrder: { olderThanDays: -3 } } }, 'input.rule.lastOrder.olderThanDays', /negative/],
      ['IN on an aggregate', { name: 'ok', rule: { all: [inactive, { orderCount: { op: 'IN', value: 2 } }] } }, 'input.rule.all[1].orderCount.op', /EQ, NEQ/],
      ['an unknown segment', { name: 'ok', rule: { all: [inactive, { inSegment: '999999' }] } }, 'input.rule.all[1].inSegment', /no segment 999999/],
      ['a malformed segment id', { name: 'ok', rule: { any: [inactive, { not: { inSegment: 'x1' } }] } }, 'input.rule.any[1].not.inSegment', /segment id/],
      ['a rule too deep', { name: 'ok', rule: [1, 2, 3, 4, 5, 6, 7, 8].reduce<object>((r) => ({ not: r }), inactive) }, 'input.rule.not.not.not.not.not.not.not.not', /deeper than 8/],
      [
        'a rule too large',
        { name: 'ok', rule: { all: Array.from({ length: 30 }, (_, i) => ({ any: [0, 1, 2].map((d) => ({ lastOrder: { olderThanDays: i + d } })) })) } },
        'input.rule',
        /more than 100 conditions/,
      ],
      ['too many children', { name: 'ok', rule: { any: Array.from({ length: 51 }, (_, i) => ({ lastOrder: { olderThanDays: i } })) } }, 'input.rule.any', /at most 50/],
    ])('rejects %s with BAD_USER_INPUT, changing nothing', async (_case, input, field, message) => {
      const before = await tables();
      expectBadInput(await run(CREATE, { input }), field, message);
      expect(await tables()).toEqual(before);
    });

    it('refuses a rule that reads an archived segment', async () => {
      const old = await create({});
      await run(ARCHIVE, { id: old.id });
      expectBadInput(await run(CREATE, { input: { name: 'reads old', rule: { inSegment: old.id } } }), 'input.rule.inSegment', /archived/);
    });

    it('lists every issue of a rule at once', async () => {
      const result = await run(CREATE, {
        input: { name: 'ok', rule: { all: [{ lastOrder: { olderThanDays: -1 } }, { orderCount: { op: 'EQ', value: -2 } }] } },
      });
      expect(result.errors![0]!.extensions!.issues).toEqual([
        { field: 'input.rule.all[0].lastOrder.olderThanDays', message: 'must not be negative' },
        { field: 'input.rule.all[1].orderCount.value', message: 'must not be negative' },
      ]);
    });
  });

  describe('updateSegment', () => {
    it('renames without a new version, and announces the change to every cache', async () => {
      const segment = await create({ name: 'Before' });
      await addMembers(stores, Number(segment.id), ['c-rename']);
      const served = async () => (await run(ENTITIES, { r: [{ __typename: 'Customer', id: 'c-rename' }] })).data!._entities[0].segments;
      expect(await served()).toEqual([{ id: segment.id, name: 'Before' }]);

      const updated = await run(UPDATE, { id: segment.id, input: { name: 'After', description: null } });
      expect(updated.data!.updateSegment).toMatchObject({ name: 'After', version: 1 });
      await expect.poll(served).toEqual([{ id: segment.id, name: 'After' }]);
      const history = (await run(HISTORY, { id: segment.id })).data!.segment.history;
      expect(history[0]).toMatchObject({ action: 'UPDATED', version: 1, changedFields: ['name'] });
    });

    it('makes a new version on a rule change, keeps the old one, and asks for a recompute', async () => {
      const segment = await create({ rule: { orderCount: { op: 'GTE', value: 3 } } });
      await effectsCarriedOut();
      await subgraph.recomputeQueue.drain(true);
      const updated = await run(UPDATE, { id: segment.id, input: { rule: inactive, refreshEveryMinutes: 15 } });
      expect(updated.errors).toBeUndefined();
      expect(updated.data!.updateSegment).toMatchObject({ version: 2, refreshEveryMinutes: 15, rule: { lastOrder: { olderThanDays: 60 } } });

      const history = (await run(HISTORY, { id: segment.id })).data!.segment.history;
      expect(history).toEqual([
        expect.objectContaining({ action: 'UPDATED', version: 2, changedFields: ['rule', 'refreshEveryMinutes'], rule: { lastOrder: { olderThanDays: 60 }, orderCount: null } }),
        expect.objectContaining({ action: 'CREATED', version: 1, rule: { lastOrder: null, orderCount: { value: 3 } } }),
      ]);
      await effectsCarriedOut();
      const jobs = await subgraph.recomputeQueue.getJobs(['waiting', 'delayed', 'prioritized']);
      expect(jobs.map((job) => job.data)).toContainEqual({ segmentId: Number(segment.id) });
      expect(await subgraph.recomputeQueue.getJobScheduler(`segment:${segment.id}`)).toMatchObject({ every: 15 * 60_000 });
    });

    it('records nothing when the update repeats what is stored', async () => {
      const segment = await create({ rule: inactive });
      const before = await tables();
      const result = await run(UPDATE, { id: segment.id, input: { rule: { not: { not: inactive } }, name: segment.name } });
      expect(result.data!.updateSegment.version).toBe(1);
      expect(await tables()).toEqual(before);
    });

    it('refuses rules that would make segments depend on each other in a cycle', async () => {
      const base = await create({ rule: inactive });
      const middle = await create({ rule: { all: [{ inSegment: base.id }, { orderCount: { op: 'GT', value: 1 } }] } });
      const top = await create({ rule: { inSegment: middle.id } });
      const before = await tables();
      expectBadInput(
        await run(UPDATE, { id: base.id, input: { rule: { any: [inactive, { not: { inSegment: top.id } }] } } }),
        'input.rule.any[1].not.inSegment',
        new RegExp(`segment ${top.id} depends on this segment`),
      );
      expectBadInput(await run(UPDATE, { id: base.id, input: { rule: { inSegment: base.id } } }), 'input.rule.inSegment', /is this segment/);
      expect(await tables()).toEqual(before);
    });

    it.each([
      [{ rule: inactive }, 'input.rule', /STATIC segment has no rule/],
      [{ refreshEveryMinutes: 30 }, 'input.refreshEveryMinutes', /only to segments with a rule/],
      [{ name: '   ' }, 'input.name', /empty/],
    ])('rejects %j on a STATIC segment at %s', async (input, field, message) => {
      const segment = await create({});
      expectBadInput(await run(UPDATE, { id: segment.id, input }), field, message);
    });

    it('cannot remove the rule of a RULE segment', async () => {
      const segment = await create({ rule: inactive });
      expectBadInput(await run(UPDATE, { id: segment.id, input: { rule: null } }), 'input.rule', /cannot be removed/);
    });
  });

  describe('archiveSegment', () => {
    it('refuses while a live rule reads the segment, then archives and unschedules it', async () => {
      const used = await create({ rule: inactive });
      const user = await create({ rule: { not: { inSegment: used.id } } });
      expectBadInput(await run(ARCHIVE, { id: used.id }), 'id', new RegExp(`used by the rules of segments ${user.id}`));

      expect((await run(ARCHIVE, { id: user.id })).data!.archiveSegment).toEqual({ id: user.id, status: 'ARCHIVED' });
      await expect.poll(() => subgraph.recomputeQueue.getJobScheduler(`segment:${used.id}`)).toBeDefined();
      expect((await run(ARCHIVE, { id: used.id })).data!.archiveSegment).toEqual({ id: used.id, status: 'ARCHIVED' });
      await effectsCarriedOut();
      expect(await subgraph.recomputeQueue.getJobScheduler(`segment:${used.id}`)).toBeUndefined();
      // Archiving twice is harmless; changing an archived segment is not allowed.
      expect((await run(ARCHIVE, { id: used.id })).errors).toBeUndefined();
      expectBadInput(await run(UPDATE, { id: used.id, input: { name: 'again' } }), 'id', /archived/);
      expectBadInput(await run(RECOMPUTE, { id: used.id }), 'id', /archived/);
    });
  });

  describe('recomputeSegment', () => {
    it('queues a recompute of a RULE segment and records who asked', async () => {
      const segment = await create({ rule: inactive });
      await effectsCarriedOut();
      await subgraph.recomputeQueue.drain(true);
      expect((await run(RECOMPUTE, { id: segment.id })).data).toEqual({ recomputeSegment: { id: segment.id } });
      await effectsCarriedOut();
      // Besides the scheduler's periodic jobs, one asked for now.
      const jobs = await subgraph.recomputeQueue.getJobs(['waiting', 'prioritized']);
      const asked = jobs.filter((job) => !job.id!.startsWith('repeat:') && job.data.segmentId === Number(segment.id));
      expect(asked.map((job) => job.name)).toEqual(['recompute-segment']);
      expect((await run(HISTORY, { id: segment.id })).data!.segment.history[0]).toMatchObject({ action: 'RECOMPUTE_REQUESTED', actor: 'admin@test' });
    });

    it('refuses STATIC segments', async () => {
      expectBadInput(await run(RECOMPUTE, { id: (await create({})).id }), 'id', /STATIC/);
    });
  });

  describe('addSegmentMembers and removeSegmentMembers', () => {
    it('set STATIC members idempotently, recording each change as an event to publish', async () => {
      const segment = await create({ name: 'Model output' });
      const id = Number(segment.id);

      expect((await run(ADD, { id: segment.id, ids: ['m-1', 'm-2', 'm-2'] })).data!.addSegmentMembers).toEqual({ id: segment.id, size: 2 });
      expect((await run(ADD, { id: segment.id, ids: ['m-2', 'm-3'] })).data!.addSegmentMembers).toEqual({ id: segment.id, size: 3 });
      expect((await run(REMOVE, { id: segment.id, ids: ['m-1', 'm-9'] })).data!.removeSegmentMembers).toEqual({ id: segment.id, size: 2 });
      expect((await run(REMOVE, { id: segment.id, ids: ['m-1'] })).data!.removeSegmentMembers).toEqual({ id: segment.id, size: 2 });

      const { rows } = await stores.pool.query('SELECT customer_id FROM segment_memberships WHERE segment_id = $1 ORDER BY 1', [id]);
      expect(rows.map((r) => r.customer_id)).toEqual(['m-2', 'm-3']);
      const events = await stores.pool.query(
        `SELECT customer_id, change, cause FROM segment_membership_events WHERE segment_id = $1 ORDER BY id`,
        [id],
      );
      expect(events.rows.map((e) => `${e.change} ${e.customer_id} ${e.cause}`)).toEqual([
        'ENTERED m-1 manual',
        'ENTERED m-2 manual',
        'ENTERED m-3 manual',
        'LEFT m-1 manual',
      ]);
      // Unpublished events are the serving store's outbox: the workers' publisher carries them to Redis.
      const unpublished = await stores.pool.query('SELECT count(*)::int AS n FROM segment_membership_events e JOIN membership_event_outbox o ON o.event_id = e.id WHERE e.segment_id = $1', [id]);
      expect(unpublished.rows[0].n).toBe(4);

      const history = (await run(HISTORY, { id: segment.id })).data!.segment.history;
      expect(history.map((h: { action: string; customerCount: number }) => [h.action, h.customerCount])).toEqual([
        ['MEMBERS_REMOVED', 1],
        ['MEMBERS_ADDED', 1],
        ['MEMBERS_ADDED', 2],
        ['CREATED', null],
      ]);
    });

    it.each([
      [[], 'customerIds', /must not be empty/],
      [Array.from({ length: 10_001 }, (_, i) => `c-${i}`), 'customerIds', /at most 10000/],
      [['ok', ''], 'customerIds[1]', /must not be empty/],
    ])('rejects customerIds %#, changing nothing', async (ids, field, message) => {
      const segment = await create({});
      const before = await tables();
      expectBadInput(await run(ADD, { id: segment.id, ids }), field, message);
      expect(await tables()).toEqual(before);
    });

    it('refuses RULE segments', async () => {
      expectBadInput(await run(ADD, { id: (await create({ rule: inactive })).id, ids: ['c-1'] }), 'id', /only STATIC segments/);
    });
  });

  it.each([
    [UPDATE, { input: { name: 'x' } }],
    [ARCHIVE, {}],
    [RECOMPUTE, {}],
    [ADD, { ids: ['c-1'] }],
    [REMOVE, { ids: ['c-1'] }],
  ])('every mutation names the id when no segment has it (%#)', async (mutation, variables) => {
    for (const id of ['424242', 'not-an-id']) expectBadInput(await run(mutation, { id, ...variables }), 'id', /there is no segment/);
  });

  beforeEach(() => {
    names += 100;
  });
});
