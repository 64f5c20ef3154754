import type { OrderFilterResolvers } from '../generated/graphql.js';

// Stored rules keep instants as ISO strings; the DateTime scalar serializes Dates.
export const OrderFilter: OrderFilterResolvers = {
  since: ({ since }) => (since ? new Date(since) : null),
  until: ({ until }) => (until ? new Date(until) : null),
};
