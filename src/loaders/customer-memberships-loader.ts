import DataLoader from 'dataloader';
import type { SegmentMembershipModel, SegmentsFreshnessModel } from '../graphql/models.js';
import type { MembershipRead, MembershipReader } from '../stores/membership-reader.js';
import type { SegmentCatalog } from '../stores/segment-catalog.js';

/** A customer's active memberships, ordered by segment id, and how they were served. */
export interface CustomerMembershipsView {
  memberships: SegmentMembershipModel[];
  freshness: SegmentsFreshnessModel;
}

export type CustomerMembershipsLoader = DataLoader<string, CustomerMembershipsView>;

/**
 * Loads customers' active memberships. All loads made while one operation
 * resolves (every `Customer` of an `_entities` batch, every membership field,
 * `segmentsFreshness`) become one read (see MembershipReader: one Redis round
 * trip, or one Postgres query), plus a Postgres query only for segments the
 * in-process catalog has not seen yet. Archived and unknown segments are
 * dropped here, so no resolver can serve them. Never rejects: when the
 * segments cannot be looked up either, the defaults are served.
 */
export function createCustomerMembershipsLoader(
  reader: Pick<MembershipReader, 'readMany'>,
  catalog: SegmentCatalog,
  laggingAfterMs: number,
): CustomerMembershipsLoader {
  return new DataLoader(async (customerIds) => {
    const read = await reader.readMany(customerIds);
    const segmentIds = new Set<number>();
    for (const snapshot of read.snapshots) for (const id of snapshot.keys()) segmentIds.add(id);
    let segments: Awaited<ReturnType<SegmentCatalog['getMany']>>;
    try {
      segments = await catalog.getMany(segmentIds);
    } catch {
      // Segments that cannot be looked up cannot be told active: serve nothing rather than fail the page.
      return customerIds.map(() => ({ memberships: [], freshness: { source: 'NONE', status: 'UNAVAILABLE', upToDateAt: null } }));
    }
    const freshness = freshnessOf(read, laggingAfterMs);
    return read.snapshots.map((snapshot) => {
      const memberships: SegmentMembershipModel[] = [];
      for (const [segmentId, since] of snapshot) {
        const segment = segments.get(segmentId);
        if (segment?.status === 'ACTIVE') memberships.push({ segment, since });
      }
      return { memberships: memberships.sort((a, b) => a.segment.id - b.segment.id), freshness };
    });
  });
}

function freshnessOf(read: MembershipRead, laggingAfterMs: number): SegmentsFreshnessModel {
  if (read.source === 'NONE') return { source: 'NONE', status: 'UNAVAILABLE', upToDateAt: null };
  const fresh = read.upToDateAt !== null && Date.now() - read.upToDateAt.getTime() <= laggingAfterMs;
  return { source: read.source, status: fresh ? 'FRESH' : 'LAGGING', upToDateAt: read.upToDateAt };
}
