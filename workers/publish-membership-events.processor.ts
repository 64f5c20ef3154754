import type { Logger } from '../src/logger.js';
import type { Stores } from '../src/stores/create-stores.js';
import { ServingStoreBusyError } from '../src/stores/postgres/serving-store-lock.js';
import { publishMembershipEvents } from '../src/stores/publish-membership-events.js';

export type PublishOutcome = { published: number } | { skipped: 'serving store busy' };

/**
 * Publishes pending membership events now. When another process holds the
 * serving-store lock for long (a full rebuild), it gives up: the periodic
 * publisher picks the events up later.
 */
export function createMembershipPublisher(stores: Stores, logger: Logger, lockWaitMs = 10_000) {
  return async (): Promise<PublishOutcome> => {
    try {
      const published = await publishMembershipEvents(
        { pool: stores.pool, memberships: stores.memberships, servingStore: stores.servingStore, stream: stores.eventStream },
        lockWaitMs,
      );
      if (published > 0) logger.debug({ published }, 'membership events published');
      return { published };
    } catch (error) {
      if (error instanceof ServingStoreBusyError) return { skipped: 'serving store busy' };
      throw error;
    }
  };
}
