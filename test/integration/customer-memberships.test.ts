import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { addMembers, archiveSegment, createSegment } from '../helpers/fixtures.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';

const ENTITIES = /* GraphQL */ `
  query Entities($representations: [_Any!]!, $segmentId: ID!) {
    _entities(representations: $representations) {
      ... on Customer {
        id
        segments { id name status }
        isInSegment(id: $segmentId)
        segmentMemberships { since segment { id } }
      }
    }
  }
`;

const customers = (...ids: string[]) => ids.map((id) => ({ __typename: 'Customer', id }));

describe('Customer segment fields through _entities', () => {
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

  it('serves the segments, memberships and membership test written by the stores', async () => {
    const newcomers = await createSegment(stores, 'Newcomers');
    const regulars = await createSegment(stores, 'Regulars');
    await addMembers(stores, newcomers.id, ['c-1', 'c-2'], new Date('2026-03-01T08:00:00.000Z'));
    await addMembers(stores, regulars.id, ['c-1'], new Date('2026-04-02T09:30:15.250Z'));

    const result = await execute(subgraph.url, ENTITIES, {
      representations: customers('c-1', 'c-2', 'c-3'),
      segmentId: String(regulars.id),
    });

    expect(result.errors).toBeUndefined();
    expect(result.data!._entities).toEqual([
      {
        id: 'c-1',
        segments: [
          { id: String(newcomers.id), name: 'Newcomers', status: 'ACTIVE' },
          { id: String(regulars.id), name: 'Regulars', status: 'ACTIVE' },
        ],
        isInSegment: true,
        segmentMemberships: [
          { since: '2026-03-01T08:00:00.000Z', segment: { id: String(newcomers.id) } },
          { since: '2026-04-02T09:30:15.250Z', segment: { id: String(regulars.id) } },
        ],
      },
      {
        id: 'c-2',
        segments: [{ id: String(newcomers.id), name: 'Newcomers', status: 'ACTIVE' }],
        isInSegment: false,
        segmentMemberships: [{ since: '2026-03-01T08:00:00.000Z', segment: { id: String(newcomers.id) } }],
      },
      { id: 'c-3', segments: [], isInSegment: false, segmentMemberships: [] },
    ]);
  });

  it.each([
    ['an unknown id', '999999'],
    ['a non-numeric id', 'not-a-segment'],
    ['an id beyond the integer range', '99999999999'],
    ['an empty id', ''],
  ])('answers false, not an error, for %s', async (kind, segmentId) => {
    const segment = await createSegment(stores);
    const customerId = `c-${kind}`;
    await addMembers(stores, segment.id, [customerId]);
    const result = await execute(subgraph.url, ENTITIES, { representations: customers(customerId), segmentId });
    expect(result.errors).toBeUndefined();
    expect(result.data!._entities[0].isInSegment).toBe(false);
    expect(result.data!._entities[0].segments).toHaveLength(1);
  });

  it('stops serving an archived segment once the change is announced', async () => {
    const segment = await createSegment(stores, 'Soon archived');
    await addMembers(stores, segment.id, ['c-archived']);
    const ask = () =>
      execute(subgraph.url, ENTITIES, { representations: customers('c-archived'), segmentId: String(segment.id) });
    expect((await ask()).data!._entities[0].isInSegment).toBe(true);

    await archiveSegment(stores, segment.id);
    await stores.segmentChanges.publish([segment.id]);

    await vi.waitFor(async () => {
      const entity = (await ask()).data!._entities[0];
      expect(entity).toEqual({ id: 'c-archived', segments: [], isInSegment: false, segmentMemberships: [] });
    });
    // Postgres still holds the membership: archiving only stops serving it.
    const { rowCount } = await stores.pool.query('SELECT 1 FROM segment_memberships WHERE segment_id = $1', [segment.id]);
    expect(rowCount).toBe(1);
  });

  it('serves segment metadata from the in-process cache until a change is announced', async () => {
    const segment = await createSegment(stores, 'Cached name');
    await addMembers(stores, segment.id, ['c-cache']);
    const names = async () =>
      (
        await execute(subgraph.url, ENTITIES, { representations: customers('c-cache'), segmentId: String(segment.id) })
      ).data!._entities[0].segments.map((s: { name: string }) => s.name);
    expect(await names()).toEqual(['Cached name']);

    // A write that nobody announces is not seen: reads do not go to Postgres.
    await stores.pool.query("UPDATE segments SET name = 'Renamed' WHERE id = $1", [segment.id]);
    expect(await names()).toEqual(['Cached name']);

    await stores.segmentChanges.publish([segment.id]);
    await vi.waitFor(async () => expect(await names()).toEqual(['Renamed']));
  });

  it('resolves Segment entities by id, and unknown ids to null', async () => {
    const segment = await createSegment(stores, 'Referenced', 'reached through another subgraph');
    const result = await execute(
      subgraph.url,
      `query ($representations: [_Any!]!) {
        _entities(representations: $representations) { ... on Segment { id name description size lastComputedAt } }
      }`,
      {
        representations: [
          { __typename: 'Segment', id: String(segment.id) },
          { __typename: 'Segment', id: '424242' },
        ],
      },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data!._entities).toEqual([
      { id: String(segment.id), name: 'Referenced', description: 'reached through another subgraph', size: 0, lastComputedAt: null },
      null,
    ]);
  });
});
