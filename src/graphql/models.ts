import type { MembershipExplanation } from '../admin/membership-explainer.js';
import type { RuleChangePreview, RulePreview } from '../stores/postgres/rule-preview-repository.js';
import type { SegmentRecord, SegmentStatus } from '../stores/postgres/segment-repository.js';
import type { SegmentMembershipModel, SegmentsFreshnessModel } from '../serving/served-membership.js';

export type { SegmentMembershipModel, SegmentsFreshnessModel };

/**
 * What resolvers pass around for each GraphQL type (codegen `mappers`), so
 * parents are typed as what they really are.
 */

/** A `Customer` reference: all this subgraph needs is the key. */
export interface CustomerModel {
  id: string;
}

/** One page of `Query.segments`; `totalCount` is counted only when asked for. */
export interface SegmentConnectionModel {
  rows: SegmentRecord[];
  hasNextPage: boolean;
  status: SegmentStatus | undefined;
  stale: boolean | undefined;
}

/** A rule preview as computed (`sample` holds customer ids). */
export type SegmentPreviewModel = RulePreview & { computedAt: Date };

/** A rule-change preview as computed (samples hold customer ids). */
export type SegmentChangePreviewModel = RuleChangePreview & { computedAt: Date };

/** A membership explained (`Query.explainMembership`); `served` and `since` are read when asked for. */
export type MembershipExplanationModel = MembershipExplanation;
