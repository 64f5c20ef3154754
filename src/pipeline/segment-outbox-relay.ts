import type { RecomputeRequests } from '../jobs/recompute-queue.js';
import type { Logger } from '../platform/logger.js';
import { timeStoreCall } from '../platform/metrics/metrics.js';
import type { SegmentEffect, SegmentEffectRequest, SegmentOutboxRepository } from '../stores/postgres/segment-outbox-repository.js';
import type { SegmentRepository } from '../stores/postgres/segment-repository.js';
import type { SegmentChangeChannel } from '../stores/redis/segment-change-channel.js';
import { PollingLoop } from './polling-loop.js';

export interface SegmentOutboxRelayDependencies {
  outbox: Pick<SegmentOutboxRepository, 'drain'>;
  segments: Pick<SegmentRepository, 'findByIds'>;
  segmentChanges: Pick<SegmentChangeChannel, 'publish'>;
  recompute: RecomputeRequests;
  /** Deletes customers' Redis serving keys without racing a publication (eraseCustomer). */
  eraseServingKeys: (customerIds: readonly string[]) => Promise<void>;
  logger: Logger;
}

/** How often the outbox is looked at: an admin change's effects start within this. */
export const SEGMENT_OUTBOX_POLL_MS = 200;
const BATCH = 500;
// BullMQ queues its commands while Redis is away instead of failing them: a
// batch that has not gone through by then is rolled back and tried again,
// rather than holding its transaction open for the whole outage.
const CARRY_OUT_TIMEOUT_MS = 10_000;

/**
 * Carries out the side effects admin changes recorded in the segment outbox
 * (announcements, recompute requests, schedules) against Redis, so that a
 * mutation commits in Postgres alone and never half-happens. Every effect is
 * idempotent and reads the segment as it is now: a batch that fails half-way
 * (Redis down) is carried out again in full at the next poll.
 */
export class SegmentOutboxRelay {
  private readonly loop = new PollingLoop(() => this.drainLogged(), SEGMENT_OUTBOX_POLL_MS);
  private failing = false;

  constructor(private readonly deps: SegmentOutboxRelayDependencies) {}

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  wake(): void {
    this.loop.wake();
  }

  private async drainLogged(): Promise<void> {
    try {
      await this.drainAll();
      if (this.failing) this.deps.logger.info('segment outbox: effects carried out again');
      this.failing = false;
    } catch (error) {
      // Logged once per outage, not at every poll.
      if (!this.failing) this.deps.logger.error({ err: error }, 'segment outbox: carrying out effects failed; retrying at every poll');
      this.failing = true;
    }
  }

  /** Carries out every pending effect. */
  async drainAll(): Promise<number> {
    let total = 0;
    for (;;) {
      const done = await this.deps.outbox.drain(BATCH, (effects) =>
        timeStoreCall('redis', 'outbox_relay', () => withTimeout(this.carryOut(effects), CARRY_OUT_TIMEOUT_MS)),
      );
      total += done;
      if (done < BATCH || this.loop.isStopped) return total;
    }
  }

  private async carryOut(effects: readonly SegmentEffectRequest[]): Promise<void> {
    const idsOf = (effect: SegmentEffect) => [
      ...new Set(effects.flatMap((e) => (e.effect === effect && 'segmentId' in e ? [e.segmentId] : []))),
    ];
    const erased = effects.flatMap((e) => ('customerId' in e ? [e.customerId] : []));
    if (erased.length > 0) await this.deps.eraseServingKeys(erased);
    const definitions = idsOf('announce-definition');
    const sizes = idsOf('announce-size').filter((id) => !definitions.includes(id));
    const schedules = idsOf('sync-schedule');
    const recomputes = idsOf('recompute');

    await this.deps.segmentChanges.publish(definitions, 'definition');
    await this.deps.segmentChanges.publish(sizes, 'size');
    const segments = new Map((await this.deps.segments.findByIds([...new Set([...schedules, ...recomputes])])).map((s) => [s.id, s]));
    const liveRule = (id: number) => {
      const segment = segments.get(id);
      return segment?.kind === 'RULE' && segment.status === 'ACTIVE' ? segment : undefined;
    };
    for (const id of schedules) {
      const segment = liveRule(id);
      if (segment) await this.deps.recompute.schedule(id, segment.refreshEveryMinutes!);
      else await this.deps.recompute.unschedule(id);
    }
    for (const id of recomputes) if (liveRule(id)) await this.deps.recompute.request(id);
  }
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`segment outbox: effects not carried out within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
