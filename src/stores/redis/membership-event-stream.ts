import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys.js';

/** One enter or leave, as published on the stream (README "Membership events"). */
export interface MembershipEvent {
  /** The event's id in Postgres (`segment_membership_events.id`): consumers dedupe on it. */
  id: string;
  segmentId: number;
  customerId: string;
  change: 'ENTERED' | 'LEFT';
  at: Date;
  cause: 'schedule' | 'event' | 'manual';
  segmentVersion: number;
}

// Kept to about this many entries (XADD MAXLEN ~): a consumer more than a
// million changes behind re-reads state instead.
const STREAM_MAX_LENGTH = 1_000_000;

/** Appends membership events to the `{prefix}membership-events` stream. */
export class MembershipEventStream {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /** Appends the events in order, in one pipeline. */
  async append(events: readonly MembershipEvent[]): Promise<void> {
    if (events.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const e of events) {
      pipeline.xadd(
        this.keys.membershipEvents,
        'MAXLEN',
        '~',
        STREAM_MAX_LENGTH,
        '*',
        'eventId', e.id,
        'segmentId', String(e.segmentId),
        'customerId', e.customerId,
        'change', e.change,
        'at', e.at.toISOString(),
        'cause', e.cause,
        'segmentVersion', String(e.segmentVersion),
      );
    }
    for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
  }
}
