import { createIORedisClient, RedisConnection } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../../platform/logger.js';
import { dropWhenStalled } from './client.js';

// Longer than any blocking wait of BullMQ's (its workers block for at most about 10 s).
const BULL_STALL_MS = 30_000;

/**
 * Has every connection BullMQ opens in this process (queues, workers and
 * their blocking connections) dropped and reopened when it stalls, as the
 * service's own connections are (dropWhenStalled): BullMQ creates them from
 * connection options, through `RedisConnection.clientFactory` when one is
 * set. Process-wide; the composition roots call it before creating queues.
 */
export function watchBullConnections(logger: Logger): void {
  RedisConnection.clientFactory = (options: RedisOptions & { url?: string }) => {
    const { url, ...rest } = options;
    const client = url ? new Redis(url, rest) : new Redis(rest);
    dropWhenStalled(client, BULL_STALL_MS, () =>
      logger.warn({ connection: rest.connectionName }, 'redis connection stalled: commands got no answer; reconnecting'),
    );
    return createIORedisClient(client);
  };
}
