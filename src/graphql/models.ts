import type { SegmentRecord, SegmentStatus } from '../stores/postgres/segment-repository.js';

/**
 * What resolvers pass around for each GraphQL type (codegen `mappers`), so
 * parents are typed as what they really are.
 */

/** A `Customer` reference: all this subgraph needs is the key. */
export interface CustomerModel {
  id: string;
}

/** A membership being served: an active segment and when the customer entered it. */
export interface SegmentMembershipModel {
  segment: SegmentRecord;
  since: Date;
}

/** One page of `Query.segments`; `totalCount` is counted only when asked for. */
export interface SegmentConnectionModel {
  rows: SegmentRecord[];
  hasNextPage: boolean;
  status: SegmentStatus | undefined;
}

/** A rule preview as computed (`sample` holds customer ids). */
export interface SegmentPreviewModel {
  size: number;
  sample: string[];
  computedAt: Date;
}

/** A rule-change preview as computed (samples hold customer ids). */
export interface SegmentChangePreviewModel {
  currentSize: number;
  newSize: number;
  entering: number;
  leaving: number;
  enteringSample: string[];
  leavingSample: string[];
  computedAt: Date;
}
