import type { SegmentRecord } from '../stores/postgres/segment-repository.js';

/** A membership being served: an active segment and when the customer entered it (epoch ms). */
export interface SegmentMembershipModel {
  segment: SegmentRecord;
  sinceMs: number;
}

/** How a customer's membership answer was served (`Customer.segmentsFreshness`). */
export interface SegmentsFreshnessModel {
  source: 'REDIS' | 'POSTGRES' | 'NONE';
  status: 'FRESH' | 'LAGGING' | 'UNAVAILABLE';
  upToDateAt: Date | null;
}
