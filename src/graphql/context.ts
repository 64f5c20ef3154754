import type { CustomerErasure } from '../admin/customer-erasure.js';
import type { MembershipExplainer } from '../admin/membership-explainer.js';
import type { SegmentAdmin } from '../admin/segment-admin.js';
import type { SegmentPreviewer } from '../admin/segment-preview.js';
import DataLoader from 'dataloader';
import { RequestAuth } from '../auth/request-auth.js';
import type { TokenVerifier } from '../auth/token-verifier.js';
import { createCustomerMembershipsLoader, type CustomerMembershipsLoader } from '../serving/customer-memberships-loader.js';
import {
  createCustomerHistoryLoader,
  createSegmentChangesLoader,
  type CustomerHistoryLoader,
  type SegmentChangesLoader,
} from '../serving/membership-history-loaders.js';
import type { MembershipHistoryRepository } from '../stores/postgres/membership-history-repository.js';
import type { SegmentRecord, SegmentRepository } from '../stores/postgres/segment-repository.js';
import type { MembershipReader } from '../serving/membership-reader.js';
import type { SegmentCatalog } from '../serving/segment-catalog.js';

/** Long-lived dependencies the resolvers reach through the context. */
export interface ContextDependencies {
  segments: SegmentRepository;
  catalog: SegmentCatalog;
  membershipReader: Pick<MembershipReader, 'readMany'>;
  /** Membership answers older than this are LAGGING, in ms. */
  laggingAfterMs: number;
  admin: SegmentAdmin;
  previewer: SegmentPreviewer;
  explainer: MembershipExplainer;
  erasure: CustomerErasure;
  verifyToken: TokenVerifier;
  membershipHistory: MembershipHistoryRepository;
}

/** Per-request context: fresh loaders and the caller, so nothing outlives the request. */
export interface Context {
  segments: SegmentRepository;
  catalog: SegmentCatalog;
  admin: SegmentAdmin;
  previewer: SegmentPreviewer;
  explainer: MembershipExplainer;
  erasure: CustomerErasure;
  auth: RequestAuth;
  membershipHistory: MembershipHistoryRepository;
  loaders: {
    customerMemberships: CustomerMembershipsLoader;
    /** Segments by id, through the catalog: every `segment(id:)` and Segment reference of a request in one read. */
    segments: DataLoader<number, SegmentRecord | null>;
    /** Pages of Customer.segmentHistory: one query per operation. */
    customerHistory: CustomerHistoryLoader;
    /** Pages of Segment.membershipChanges: one query per operation. */
    segmentChanges: SegmentChangesLoader;
  };
}

export function createContext(deps: ContextDependencies, authorization?: string): Context {
  return {
    segments: deps.segments,
    catalog: deps.catalog,
    admin: deps.admin,
    previewer: deps.previewer,
    explainer: deps.explainer,
    erasure: deps.erasure,
    auth: new RequestAuth(authorization, deps.verifyToken),
    membershipHistory: deps.membershipHistory,
    loaders: {
      customerMemberships: createCustomerMembershipsLoader(deps.membershipReader, deps.catalog, deps.laggingAfterMs),
      segments: new DataLoader(async (ids) => {
        const found = await deps.catalog.getMany(ids);
        return ids.map((id) => found.get(id) ?? null);
      }),
      customerHistory: createCustomerHistoryLoader(deps.membershipHistory),
      segmentChanges: createSegmentChangesLoader(deps.membershipHistory),
    },
  };
}
