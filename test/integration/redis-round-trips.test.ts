import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMembers, createSegment } from '../helpers/fixtures.js';
import { startTcpRelay, type TcpRelay } from '../helpers/tcp-relay.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, REDIS_TARGET, type TestStores } from '../helpers/test-environment.js';

const ENTITIES = /* GraphQL */ `
  query ($representations: [_Any!]!, $segmentId: ID!) {
    _entities(representations: $representations) {
      ... on Customer {
        id
        segments { id name }
        isInSegment(id: $segmentId)
        segmentMemberships { since }
        segmentsFreshness { source status upToDateAt }
      }
    }
  }
`;

describe('the read path costs one Redis round trip per operation, freshness included', () => {
  let counter: TcpRelay;
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let segmentIds: string[];

  beforeAll(async () => {
    counter = await startTcpRelay(REDIS_TARGET);
    stores = await createTestStores({ redisUrl: `redis://127.0.0.1:${counter.port}` });
    subgraph = await startSubgraph(stores);
    const even = await createSegment(stores, 'Even customers');
    const tens = await createSegment(stores, 'Every tenth customer');
    segmentIds = [String(even.id), String(tens.id)];
    const ids = Array.from({ length: 100 }, (_, i) => `c-${i}`);
    await addMembers(stores, even.id, ids.filter((_, i) => i % 2 === 0));
    await addMembers(stores, tens.id, ids.filter((_, i) => i % 10 === 0));
  });
  afterAll(async () => {
    await subgraph?.stop();
    await stores?.dispose();
    await counter?.close();
  });

  it.each([1, 100, 500])('for %i Customer representations asking all three fields', async (count) => {
    const representations = Array.from({ length: count }, (_, i) => ({ __typename: 'Customer', id: `c-${i}` }));
    // Warm the segment catalog so what is counted is the steady state.
    await execute(subgraph.url, ENTITIES, { representations, segmentId: segmentIds[1] });

    counter.reset();
    const result = await execute(subgraph.url, ENTITIES, { representations, segmentId: segmentIds[1] });

    expect(result.errors).toBeUndefined();
    const entities = result.data!._entities as Array<{ id: string; segments: unknown[]; isInSegment: boolean; segmentsFreshness: { source: string } }>;
    expect(entities).toHaveLength(count);
    // The answers are real: c-0 is in both segments, c-2 in one, odd ones in none.
    expect(entities[0]!.segments).toHaveLength(2);
    expect(entities[0]!.isInSegment).toBe(true);
    if (count > 2) expect(entities[2]!.segments).toHaveLength(1);
    if (count > 2) expect(entities[1]!.segments).toHaveLength(0);
    // Freshness comes from the same pipeline as the memberships.
    expect(entities.every((e) => e.segmentsFreshness.source === 'REDIS')).toBe(true);
    expect(counter.roundTrips).toBe(1);
  });
});
