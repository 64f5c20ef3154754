import type { Logger } from '../src/logger.js';
import { ServingStoreBusyError } from '../src/stores/postgres/serving-store-lock.js';
import { publishMembershipEvents, type PublisherDependencies } from '../src/stores/publish-membership-events.js';

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
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: PublisherDependencies,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.wake(), PUBLISH_POLL_MS);
    this.wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.publish()
      .then(() => undefined)
      .catch((error: unknown) => this.logger.error({ err: error }, 'publishing membership events failed; retrying at the next poll'))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  /** Publishes what is pending now, unless another process is doing it. */
  async publish(lockWaitMs = LOCK_WAIT_MS): Promise<PublishOutcome> {
    try {
      const published = await publishMembershipEvents(this.deps, lockWaitMs);
      if (published > 0) this.logger.debug({ published }, 'membership events published');
      return { published };
    } catch (error) {
      if (error instanceof ServingStoreBusyError) return { skipped: 'serving store busy' };
      throw error;
    }
  }
}
