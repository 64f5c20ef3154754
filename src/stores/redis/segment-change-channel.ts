import { once } from 'node:events';
import type { RedisClient } from './client.js';
import type { RedisKeys } from './keys.js';

/**
 * What changed: the definition (created, renamed, rule, status) or only the
 * computed size. Segment caches care about both; the workers' rule index only
 * about definitions, so recomputes do not make every worker reload rules.
 */
export type SegmentChangeKind = 'definition' | 'size';

/**
 * Tells every process that a segment changed, over Redis pub/sub, so their
 * in-process segment caches drop the stale entry at once. Messages are
 * `<kind>:<id>,<id>...`.
 */
export class SegmentChangeChannel {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  /** Announces that these segments changed. */
  async publish(segmentIds: readonly number[], kind: SegmentChangeKind = 'definition'): Promise<void> {
    if (segmentIds.length === 0) return;
    await this.redis.publish(this.keys.segmentChanges, `${kind}:${segmentIds.join(',')}`);
  }

  /**
   * Calls `onChange` with the ids of every announced change, and `onResync`
   * whenever the subscription (re)connects, because announcements made while
   * it was away are lost and the listener must assume anything changed.
   * `subscriber` becomes a subscriber-mode connection owned by the caller.
   * Resolves once subscribed, or after `waitMs` when Redis is not there yet:
   * the subscription is then made when it comes (a process starts while
   * Redis is down, and serves from Postgres meanwhile).
   *
   * @returns a function that unsubscribes
   */
  async subscribe(
    subscriber: RedisClient,
    onChange: (segmentIds: number[], kind: SegmentChangeKind) => void,
    onResync: () => void,
    waitMs = 2000,
  ): Promise<() => Promise<void>> {
    const channel = this.keys.segmentChanges;
    const onMessage = (from: string, message: string) => {
      if (from !== channel) return;
      const [kind, ids = ''] = message.split(':');
      if (kind !== 'definition' && kind !== 'size') return;
      onChange(ids.split(',').map(Number).filter(Number.isInteger), kind);
    };
    let subscribed: Promise<unknown> | null = null;
    // Subscribing before the connection's ready check has run races with it (ioredis then fails the
    // check in subscriber mode and reconnects, and the subscription can be lost): only once ready.
    // ioredis re-subscribes by itself after a reconnect and then emits 'ready' again.
    const onReady = () => {
      subscribed ??= subscriber.subscribe(channel).catch(() => (subscribed = null));
      onResync();
    };
    subscriber.on('message', onMessage);
    subscriber.on('ready', onReady);
    if (subscriber.status === 'ready') onReady();
    // `once` rejects on the connection's 'error' events while Redis is away: that only ends the wait.
    const ready = subscribed ?? once(subscriber, 'ready').then(() => subscribed, () => undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([ready, new Promise((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
    return async () => {
      subscriber.off('message', onMessage);
      subscriber.off('ready', onReady);
      if (subscribed) await subscriber.unsubscribe(channel);
    };
  }
}
