import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { publishMembershipEvents } from '../../src/pipeline/publish-membership-events.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';

const FRESHNESS = `query ($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { segmentsFreshness { source status upToDateAt } } } }`;

// The watermark: every change committed before upToDateAt is reflected. It is
// held back by the oldest change waiting in the outbox and by the oldest rule
// change not computed yet; Redis serves the publisher's copy of it.
describe('Customer.segmentsFreshness', () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;

  beforeAll(async () => {
    stores = await createTestStores();
    subgraph = await startSubgraph(stores);
  });
  afterAll(async () => {
    await subgraph?.stop();
    await stores?.dispose();
  });
  beforeEach(async () => {
    await stores.pool.query('TRUNCATE customer_change_outbox');
    await stores.pool.query('TRUNCATE segments, segment_memberships, segment_membership_events, membership_event_outbox, segment_size_deltas CASCADE');
  });

  const publish = () => publishMembershipEvents({ pool: stores.pool, servingStore: stores.servingStore, stream: stores.eventStream });
  const freshness = async () => {
    const result = await execute(subgraph.url, FRESHNESS, { r: [{ __typename: 'Customer', id: 'c-1' }] });
    expect(result.errors).toBeUndefined();
    return result.data!._entities[0].segmentsFreshness as { source: string; status: string; upToDateAt: string | null };
  };
  const postgresUpToDateAt = async () => (await stores.memberships.readMany(['c-1'], 1000)).upToDateAt;

  it('is unknown, and LAGGING, before the publisher has reported', async () => {
    await stores.redis.unlink(stores.keys.servingUpToDate(0));
    expect(await freshness()).toEqual({ source: 'REDIS', status: 'LAGGING', upToDateAt: null });
  });

  it('is the time of the last publication when nothing waits, and FRESH', async () => {
    const before = Date.now();
    await publish();
    const after = Date.now();
    const answer = await freshness();
    expect(answer.status).toBe('FRESH');
    expect(new Date(answer.upToDateAt!).getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(new Date(answer.upToDateAt!).getTime()).toBeLessThanOrEqual(after);
  });

  it('is held back by the oldest change waiting in the outbox, and LAGGING past the threshold', async () => {
    const { rows } = await stores.pool.query<{ recordedAt: Date }>(
      `INSERT INTO customer_change_outbox (customer_id, recorded_at) VALUES ('c-2', now() - interval '1 minute'), ('c-3', now())
       RETURNING recorded_at AS "recordedAt"`,
    );
    const oldest = rows[0]!.recordedAt;
    await publish();
    expect(await freshness()).toEqual({ source: 'REDIS', status: 'LAGGING', upToDateAt: oldest.toISOString() });
    expect(await postgresUpToDateAt()).toEqual(oldest);
  });

  it('is held back by a rule change not computed yet, but not by a quarantined rule', async () => {
    const segment = await stores.segments.transaction((tx) =>
      tx.create({ name: 'Ordered', rule: { orderCount: { op: 'GTE', value: 1 } }, refreshEveryMinutes: 60 }, 'test'),
    );
    const { rows } = await stores.pool.query<{ changedAt: Date }>(
      `UPDATE segments SET rule_changed_at = now() - interval '2 minutes' WHERE id = $1 RETURNING rule_changed_at AS "changedAt"`,
      [segment.id],
    );
    const changedAt = rows[0]!.changedAt;
    await publish();
    expect(await freshness()).toEqual({ source: 'REDIS', status: 'LAGGING', upToDateAt: changedAt.toISOString() });
    expect(await postgresUpToDateAt()).toEqual(changedAt);

    await stores.pool.query(`UPDATE segments SET quarantined_at = now(), compute_error = 'broken' WHERE id = $1`, [segment.id]);
    await publish();
    expect((await freshness()).status).toBe('FRESH');

    // Computed after the change: no longer waiting.
    await stores.pool.query('UPDATE segments SET quarantined_at = NULL, compute_error = NULL, last_computed_at = now() WHERE id = $1', [segment.id]);
    expect((await postgresUpToDateAt()).getTime()).toBeGreaterThan(changedAt.getTime() + 60_000);
  });

  it('waits for a changed rule, not for a rename', async () => {
    const segment = await stores.segments.transaction((tx) =>
      tx.create({ name: 'Spenders', rule: { orderTotal: { op: 'GTE', value: 100 } }, refreshEveryMinutes: 60 }, 'test'),
    );
    await stores.pool.query('UPDATE segments SET last_computed_at = clock_timestamp() WHERE id = $1', [segment.id]);
    const edit = (patch: Record<string, unknown>) => stores.segments.transaction(async (tx) => tx.update((await tx.lock(segment.id))!, patch, 'test'));

    await edit({ name: 'Big spenders' });
    const afterRename = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Nothing waits: the time of the read itself, not the time of the rename.
    expect((await postgresUpToDateAt()).getTime()).toBeGreaterThan(afterRename);

    const beforeRuleChange = Date.now();
    await edit({ rule: { orderTotal: { op: 'GTE', value: 200 } } });
    const { rows } = await stores.pool.query<{ changedAt: Date }>('SELECT rule_changed_at AS "changedAt" FROM segments WHERE id = $1', [segment.id]);
    expect(rows[0]!.changedAt.getTime()).toBeGreaterThanOrEqual(beforeRuleChange - 1000);
    expect(await postgresUpToDateAt()).toEqual(rows[0]!.changedAt);
  });
});
