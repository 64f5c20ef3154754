import type { SegmentAdmin } from './admin/segment-admin.js';
import type { SegmentPreviewer } from './admin/segment-preview.js';
import DataLoader from 'dataloader';
import { RequestAuth } from './auth/request-auth.js';
import type { TokenVerifier } from './auth/token-verifier.js';
import { createCustomerMembershipsLoader, type CustomerMembershipsLoader } from './loaders/customer-memberships-loader.js';
import type { SegmentRecord, SegmentRepository } from './stores/postgres/segment-repository.js';
import type { MembershipReader } from './stores/membership-reader.js';
import type { SegmentCatalog } from './stores/segment-catalog.js';

/** Long-lived dependencies the resolvers reach through the context. */
export interface ContextDependencies {
  segments: SegmentRepository;
  catalog: SegmentCatalog;
  membershipReader: Pick<MembershipReader, 'readMany'>;
  /** Membership answers older than this are LAGGING, in ms. */
  laggingAfterMs: number;
  admin: SegmentAdmin;
  previewer: SegmentPreviewer;
  verifyToken: TokenVerifier;
}

/** Per-request context: fresh loaders and the caller, so nothing outlives the request. */
export interface Context {
  segments: SegmentRepository;
  catalog: SegmentCatalog;
  admin: SegmentAdmin;
  previewer: SegmentPreviewer;
  auth: RequestAuth;
  loaders: {
    customerMemberships: CustomerMembershipsLoader;
    /** Segments by id, through the catalog: every `segment(id:)` and Segment reference of a request in one read. */
    segments: DataLoader<number, SegmentRecord | null>;
  };
}

export function createContext(deps: ContextDependencies, authorization?: string): Context {
  return {
    segments: deps.segments,
    catalog: deps.catalog,
    admin: deps.admin,
    previewer: deps.previewer,
    auth: new RequestAuth(authorization, deps.verifyToken),
    loaders: {
      customerMemberships: createCustomerMembershipsLoader(deps.membershipReader, deps.catalog, deps.laggingAfterMs),
      segments: new DataLoader(async (ids) => {
        const found = await deps.catalog.getMany(ids);
        return ids.map((id) => found.get(id) ?? null);
      }),
    },
  };
}
