import DataLoader from 'dataloader';
import type { SegmentMembershipModel } from '../graphql/models.js';
import type { SegmentCatalog } from '../stores/segment-catalog.js';
import type { MembershipServingStore } from '../stores/redis/serving-store.js';

export type CustomerMembershipsLoader = DataLoader<string, SegmentMembershipModel[]>;

/**
 * Loads customers' active memberships, ordered by segment id. All loads made
 * while one operation resolves (every `Customer` of an `_entities` batch,
 * every membership field) become one Redis round trip, plus a Postgres query
 * only for segments the in-process catalog has not seen yet. Archived and
 * unknown segments are dropped here, so no resolver can serve them.
 */
export function createCustomerMembershipsLoader(
  servingStore: MembershipServingStore,
  catalog: SegmentCatalog,
): CustomerMembershipsLoader {
  return new DataLoader(async (customerIds) => {
    const snapshots = await servingStore.readMany(customerIds);
    const segmentIds = new Set<number>();
    for (const snapshot of snapshots) if (!(snapshot instanceof Error)) for (const id of snapshot.keys()) segmentIds.add(id);
    const segments = await catalog.getMany(segmentIds);

    return snapshots.map((snapshot) => {
      if (snapshot instanceof Error) return snapshot;
      const memberships: SegmentMembershipModel[] = [];
      for (const [segmentId, since] of snapshot) {
        const segment = segments.get(segmentId);
        if (segment?.status === 'ACTIVE') memberships.push({ segment, since });
      }
      return memberships.sort((a, b) => a.segment.id - b.segment.id);
    });
  });
}
