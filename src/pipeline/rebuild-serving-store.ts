import type pg from 'pg';
import type { MembershipRepository } from '../stores/postgres/membership-repository.js';
import { withServingStoreLock } from '../stores/postgres/serving-store-lock.js';
import type { MembershipServingStore } from '../stores/redis/serving-store.js';

export interface RebuildResult {
  /** Customers whose serving key was rewritten from Postgres. */
  customersWritten: number;
  /** Serving keys removed because Postgres has no membership for the customer. */
  staleKeysRemoved: number;
}

// Customers per Postgres page and Redis write: bounds memory whatever the size.
const BATCH_SIZE = 5000;

/**
 * Makes the Redis serving keys equal to `segment_memberships`: rewrites every
 * customer that has memberships, then removes keys of customers that have
 * none, and finally marks the store built. Streams both sides in batches, so
 * memory stays flat at millions of customers. Running it twice, or again after
 * a crash, gives the same result. Holds the serving-store lock throughout, so
 * the event publisher never interleaves with it.
 */
export async function rebuildServingStore(
  pool: pg.Pool,
  memberships: MembershipRepository,
  servingStore: MembershipServingStore,
): Promise<RebuildResult> {
  return withServingStoreLock(pool, 5 * 60_000, () => rebuild(memberships, servingStore));
}

async function rebuild(memberships: MembershipRepository, servingStore: MembershipServingStore): Promise<RebuildResult> {
  const startedAt = new Date();
  let customersWritten = 0;
  for await (const batch of memberships.customerBatches(BATCH_SIZE)) {
    await servingStore.replaceCustomers(batch);
    customersWritten += batch.length;
  }
  let staleKeysRemoved = 0;
  for await (const customerIds of servingStore.customerIdBatches(BATCH_SIZE)) {
    const members = await memberships.customersWithMemberships(customerIds);
    const stale = customerIds.filter((id) => !members.has(id));
    await servingStore.deleteCustomers(stale);
    staleKeysRemoved += stale.length;
  }
  await servingStore.markBuilt(startedAt);
  return { customersWritten, staleKeysRemoved };
}
