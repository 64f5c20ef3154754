import type { SegmentAdmin } from './admin/segment-admin.js';
import type { SegmentPreviewer } from './admin/segment-preview.js';
import { RequestAuth } from './auth/request-auth.js';
import type { TokenVerifier } from './auth/token-verifier.js';
import { createCustomerMembershipsLoader, type CustomerMembershipsLoader } from './loaders/customer-memberships-loader.js';
import type { SegmentRepository } from './stores/postgres/segment-repository.js';
import type { MembershipServingStore } from './stores/redis/serving-store.js';
import type { SegmentCatalog } from './stores/segment-catalog.js';

/** Long-lived dependencies the resolvers reach through the context. */
export interface ContextDependencies {
  segments: SegmentRepository;
  catalog: SegmentCatalog;
  servingStore: MembershipServingStore;
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
      customerMemberships: createCustomerMembershipsLoader(deps.servingStore, deps.catalog),
    },
  };
}
