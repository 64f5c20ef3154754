import type { Logger } from '../src/logger.js';
import type { Stores } from '../src/stores/create-stores.js';
import { ServingStoreBusyError } from '../src/stores/postgres/serving-store-lock.js';
import { publishMembershipEvents } from '../src/stores/publish-membership-events.js';

export type PublishOutcome = { published: number } | { skipped: 'serving store busy' };

/**
 * How long a publication waits for the serving-store lock. Right after a
 * recompute or an evaluation it waits briefly: the publisher holding the lock
 * is likely to take these events too, and the periodic run (every
 * PUBLISH_EVERY_MS) takes whatever it did not. The periodic run waits longer.
 */
export const INLINE_LOCK_WAIT_MS = 250;
export const PERIODIC_LOCK_WAIT_MS = 10_000;

/**
 * Publishes pending membership events now. When another process holds the
 * serving-store lock past `lockWaitMs` (a full rebuild, a large publication),
 * it gives up and leaves the events to a later run.
 */
export function createMembershipPublisher(stores: Stores, logger: Logger) {
  return async (lockWaitMs: number): Promise<PublishOutcome> => {
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
