import type { CustomerResolvers, SegmentMembershipResolvers } from '../generated/graphql.js';
import { parseSegmentId } from '../domain/segment-id.js';

export const Customer: CustomerResolvers = {
  // The customers subgraph owns the entity; any id is a customer to us, and
  // one we hold no memberships for is simply in no segment.
  __resolveReference: (reference) => ({ id: reference.id }),

  segments: async ({ id }, _args, { loaders }) => (await loaders.customerMemberships.load(id)).activeSegments(),

  segmentMemberships: async ({ id }, _args, { loaders }) => (await loaders.customerMemberships.load(id)).memberships(),

  isInSegment: async ({ id }, args, { loaders }) => {
    const segmentId = parseSegmentId(args.id);
    if (segmentId === null) return false;
    return (await loaders.customerMemberships.load(id)).has(segmentId);
  },

  segmentsFreshness: async ({ id }, _args, { loaders }) => (await loaders.customerMemberships.load(id)).freshness,
};

export const SegmentMembership: SegmentMembershipResolvers = {
  since: ({ sinceMs }) => new Date(sinceMs),
};
