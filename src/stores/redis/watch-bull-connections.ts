import { createIORedisClient, RedisConnection } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../../platform/logger.js';
import { BULL_STALL_MS } from './bull-connection.js';
import { dropWhenStalled } from './client.js';

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
