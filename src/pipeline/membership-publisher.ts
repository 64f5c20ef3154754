import type { Logger } from '../platform/logger.js';
import { timeStoreCall } from '../platform/metrics/metrics.js';
import { observePublished } from '../platform/metrics/order-lag.js';
import { ServingStoreBusyError } from '../stores/postgres/serving-store-lock.js';
import { publishMembershipEvents, type PublisherDependencies } from './publish-membership-events.js';
import { repeatedErrorLog } from '../platform/repeated-error-log.js';
import { PollingLoop } from './polling-loop.js';

export type PublishOutcome = { published: number } | { skipped: 'serving store busy' };

// Another process holding the serving-store lock (its publisher, a rebuild)
// is doing this work: give up quickly and look again at the next poll.
const LOCK_WAIT_MS = 250;
/** How often pending events are looked for when nothing woke the publisher: the safety net. */
export const PUBLISH_POLL_MS = 500;

/**
 * Carries membership events to Redis continuously: woken in-process right
 * after every evaluation batch and recompute, and every PUBLISH_POLL_MS for
 * changes made elsewhere (admin STATIC changes, another worker). Runs one
 * publication at a time; a wake during one runs another right after it.
 */
export class MembershipPublisher {
  private readonly loop = new PollingLoop(
    () =>
      this.publish().then(
        () => undefined,
        (error: unknown) => this.logFailure(error),
      ),
    PUBLISH_POLL_MS,
  );
  // While a store is away every poll fails the same way: logged once, then counted.
  private readonly logFailure: (error: unknown) => void;

  constructor(
    private readonly deps: PublisherDependencies,
    private readonly logger: Logger,
  ) {
    this.logFailure = repeatedErrorLog(logger, 'publishing membership events failed; retrying at the next poll');
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  wake(): void {
    this.loop.wake();
  }

  /** Publishes what is pending now, unless another process is doing it. */
  async publish(lockWaitMs = LOCK_WAIT_MS): Promise<PublishOutcome> {
    try {
      const published = await timeStoreCall('redis', 'publish', () =>
        publishMembershipEvents({ onPublished: observePublished, ...this.deps }, lockWaitMs),
      );
      if (published > 0) this.logger.debug({ published }, 'membership events published');
      return { published };
    } catch (error) {
      if (error instanceof ServingStoreBusyError) return { skipped: 'serving store busy' };
      throw error;
    }
  }
}
