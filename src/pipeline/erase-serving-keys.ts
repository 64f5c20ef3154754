import type pg from 'pg';
import type { MembershipRepository } from '../stores/postgres/membership-repository.js';
import { withServingStoreLock } from '../stores/postgres/serving-store-lock.js';
import type { MembershipServingStore } from '../stores/redis/serving-store.js';

// An erasure waits for a publication in progress rather than racing it.
const LOCK_WAIT_MS = 10_000;

/**
 * Rewrites erased customers' serving keys from Postgres under the
 * serving-store lock: a publication that read their (now deleted) events
 * before the erasure committed finishes first, and whatever they hold now
 * (nothing, or the memberships of orders placed since) is what the key gets.
 * Deleting the key instead would wipe memberships a later order earned, when
 * the effect is carried out late.
 */
export function eraseServingKeys(
  deps: {
    pool: pg.Pool;
    memberships: Pick<MembershipRepository, 'forCustomers'>;
    servingStore: Pick<MembershipServingStore, 'replaceCustomers'>;
  },
  customerIds: readonly string[],
): Promise<void> {
  return withServingStoreLock(deps.pool, LOCK_WAIT_MS, async (client) => {
    await deps.servingStore.replaceCustomers(await deps.memberships.forCustomers(customerIds, client));
  });
}
