import DataLoader from 'dataloader';
import type { SegmentMembershipModel, SegmentsFreshnessModel } from './served-membership.js';
import type { MembershipRead, MembershipReader } from './membership-reader.js';
import type { SegmentRecord } from '../stores/postgres/segment-repository.js';
import type { MembershipSnapshot } from '../stores/redis/serving-store.js';
import type { SegmentCatalog } from './segment-catalog.js';

/**
 * One customer's memberships as served: only active segments count, in
 * segment id order. Answers are computed when a field asks, so that a page
 * asking only `isInSegment` builds no lists.
 */
export class CustomerMembershipsView {
  constructor(
    private readonly snapshot: MembershipSnapshot,
    private readonly segments: ReadonlyMap<number, SegmentRecord>,
    readonly freshness: SegmentsFreshnessModel,
  ) {}

  has(segmentId: number): boolean {
    return this.snapshot.has(segmentId) && this.segments.get(segmentId)?.status === 'ACTIVE';
  }

  /** When the customer entered the active segment (epoch ms), as served; null when not a member. */
  sinceMs(segmentId: number): number | null {
    return this.has(segmentId) ? this.snapshot.get(segmentId)! : null;
  }

  activeSegments(): SegmentRecord[] {
    return this.activeIds().map((id) => this.segments.get(id)!);
  }

  memberships(): SegmentMembershipModel[] {
    return this.activeIds().map((id) => ({ segment: this.segments.get(id)!, sinceMs: this.snapshot.get(id)! }));
  }

  private activeIds(): number[] {
    const ids: number[] = [];
    for (const id of this.snapshot.keys()) if (this.segments.get(id)?.status === 'ACTIVE') ids.push(id);
    return ids.sort((a, b) => a - b);
  }
}

export type CustomerMembershipsLoader = DataLoader<string, CustomerMembershipsView>;

const UNAVAILABLE: SegmentsFreshnessModel = { source: 'NONE', status: 'UNAVAILABLE', upToDateAt: null };

/**
 * Loads customers' memberships. All loads made while one operation resolves
 * (every `Customer` of an `_entities` batch, every membership field,
 * `segmentsFreshness`) become one read (see MembershipReader: one Redis round
 * trip, or one Postgres query), plus a Postgres query only for segments the
 * in-process catalog has not seen yet. Archived and unknown segments are
 * never served. Never rejects: when the segments cannot be looked up either,
 * the defaults are served.
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
    let segments: Map<number, SegmentRecord>;
    try {
      segments = await catalog.getMany(segmentIds);
    } catch {
      // Segments that cannot be looked up cannot be told active: serve nothing rather than fail the page.
      const none = new CustomerMembershipsView(new Map(), new Map(), UNAVAILABLE);
      return customerIds.map(() => none);
    }
    const freshness = freshnessOf(read, laggingAfterMs);
    return read.snapshots.map((snapshot) => new CustomerMembershipsView(snapshot, segments, freshness));
  });
}

function freshnessOf(read: MembershipRead, laggingAfterMs: number): SegmentsFreshnessModel {
  if (read.source === 'NONE') return UNAVAILABLE;
  const fresh = read.upToDateAt !== null && Date.now() - read.upToDateAt.getTime() <= laggingAfterMs;
  return { source: read.source, status: fresh ? 'FRESH' : 'LAGGING', upToDateAt: read.upToDateAt };
}
