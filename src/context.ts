import { createCustomerMembershipsLoader, type CustomerMembershipsLoader } from './loaders/customer-memberships-loader.js';
import type { SegmentRepository } from './stores/postgres/segment-repository.js';
import type { MembershipServingStore } from './stores/redis/serving-store.js';
import type { SegmentCatalog } from './stores/segment-catalog.js';

/** Long-lived dependencies the resolvers reach through the context. */
export interface ContextDependencies {
  segments: SegmentRepository;
  catalog: SegmentCatalog;
  servingStore: MembershipServingStore;
}

/** Per-request context: fresh loaders, so nothing cached outlives the request. */
export interface Context {
  segments: SegmentRepository;
  catalog: SegmentCatalog;
  loaders: {
    customerMemberships: CustomerMembershipsLoader;
  };
}

export function createContext(deps: ContextDependencies): Context {
  return {
    segments: deps.segments,
    catalog: deps.catalog,
    loaders: {
      customerMemberships: createCustomerMembershipsLoader(deps.servingStore, deps.catalog),
    },
  };
}
