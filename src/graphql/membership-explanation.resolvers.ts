import type { MembershipExplanationResolvers, QueryResolvers } from '../generated/graphql.js';

// Scopes are enforced from FIELD_SCOPES before these run.

export const Query: QueryResolvers = {
  explainMembership: (_parent, { segmentId, customerId }, { explainer }) => explainer.explain(segmentId, customerId),
};

export const MembershipExplanation: MembershipExplanationResolvers = {
  customer: ({ customerId }) => ({ id: customerId }),
  // What Customer.isInSegment and Customer.segmentMemberships serve, through the same loader (and read).
  served: async ({ segment, customerId }, _args, { loaders }) => (await loaders.customerMemberships.load(customerId)).has(segment.id),
  since: async ({ segment, customerId }, _args, { loaders }) => {
    const sinceMs = (await loaders.customerMemberships.load(customerId)).sinceMs(segment.id);
    return sinceMs === null ? null : new Date(sinceMs);
  },
};
