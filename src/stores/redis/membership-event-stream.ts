import type { MembershipCause } from '../../domain/membership-cause.js';
import type { RedisClient } from './client.js';
import type { RedisKeys } from './keys.js';
import { defineLuaCommand } from './lua-commands.js';

/** One enter or leave, as published on the stream (docs/pipeline.md, "Membership events"). */
export interface MembershipEvent {
  /** The event's id in Postgres (`segment_membership_events.id`): consumers dedupe on it. */
  id: string;
  segmentId: number;
  customerId: string;
  change: 'ENTERED' | 'LEFT';
  at: Date;
  cause: MembershipCause;
  segmentVersion: number;
}

// Kept to about this many entries (XADD MAXLEN ~): a consumer more than a
// million changes behind re-reads state instead.
const STREAM_MAX_LENGTH = 1_000_000;

// Events per append-membership-events call: it holds Redis for a few milliseconds at most.
const APPEND_CHUNK = 1000;

type AppendEventsCommand = { appendMembershipEvents(stream: string, ...args: string[]): unknown };

/** How long stream entries are kept by default (config MEMBERSHIP_STREAM_RETENTION_HOURS): 7 days. */
export const DEFAULT_STREAM_RETENTION_MS = 7 * 24 * 3_600_000;

export interface MembershipEventStreamOptions {
  /** Entries older than this are trimmed at every append, in ms. @defaultValue DEFAULT_STREAM_RETENTION_MS */
  retentionMs?: number;
}

/**
 * Appends membership events to the `{prefix}membership-events` stream, which
 * keeps about the last STREAM_MAX_LENGTH entries and none much older than
 * the retention (docs/pipeline.md "Retention").
 */
export class MembershipEventStream {
  private readonly retentionMs: number;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    options: MembershipEventStreamOptions = {},
  ) {
    this.retentionMs = options.retentionMs ?? DEFAULT_STREAM_RETENTION_MS;
    defineLuaCommand(redis, 'appendMembershipEvents', 'append-membership-events', 1);
  }

  /**
   * Appends the events in order, in one pipeline (commands/append-membership-events.lua), and trims
   * entries older than the retention. One XADD takes either MAXLEN or MINID,
   * so each XADD bounds the length and one XTRIM per append the age. Entry ids
   * are Redis' clock in ms, so the age is measured against this process'
   * clock: a skew between them moves the cut by as much. Both trims are
   * approximate (`~`): Redis drops only whole nodes of the stream (100 entries
   * by default), which keeps trimming cheap.
   */
  async append(events: readonly MembershipEvent[]): Promise<void> {
    if (events.length === 0) return;
    const pipeline = this.redis.pipeline() as ReturnType<RedisClient['pipeline']> & AppendEventsCommand;
    for (let start = 0; start < events.length; start += APPEND_CHUNK) {
      const args = [String(STREAM_MAX_LENGTH)];
      for (const e of events.slice(start, start + APPEND_CHUNK)) {
        args.push(e.id, String(e.segmentId), e.customerId, e.change, e.at.toISOString(), e.cause, String(e.segmentVersion));
      }
      pipeline.appendMembershipEvents(this.keys.membershipEvents, ...args);
    }
    pipeline.xtrim(this.keys.membershipEvents, 'MINID', '~', `${Math.max(0, Date.now() - this.retentionMs)}-0`);
    for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
  }
}
