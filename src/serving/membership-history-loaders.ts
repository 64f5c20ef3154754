import DataLoader from 'dataloader';
import type {
  CustomerHistoryRequest,
  MembershipChangePage,
  MembershipHistoryRepository,
  SegmentChangesRequest,
} from '../stores/postgres/membership-history-repository.js';

export type CustomerHistoryLoader = DataLoader<CustomerHistoryRequest, MembershipChangePage, string>;
export type SegmentChangesLoader = DataLoader<SegmentChangesRequest, MembershipChangePage, string>;

/**
 * Pages of `Customer.segmentHistory`: every page asked while one operation
 * resolves (a router's `_entities` batch of customers) is one query.
 */
export function createCustomerHistoryLoader(history: Pick<MembershipHistoryRepository, 'customerHistory'>): CustomerHistoryLoader {
  return new DataLoader((requests) => history.customerHistory(requests), { cacheKeyFn: (request) => JSON.stringify(request) });
}

/** Pages of `Segment.membershipChanges`: every page asked while one operation resolves is one query. */
export function createSegmentChangesLoader(history: Pick<MembershipHistoryRepository, 'segmentChanges'>): SegmentChangesLoader {
  return new DataLoader((requests) => history.segmentChanges(requests), { cacheKeyFn: (request) => JSON.stringify(request) });
}
