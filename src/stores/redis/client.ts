import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../../logger.js';
import { repeatedErrorLog } from '../../repeated-error-log.js';

export interface RedisClientOptions {
  /** Shown in `CLIENT LIST`, to tell the service's connections apart. */
  connectionName: string;
  /** Receives connection errors; ioredis keeps reconnecting in the background. */
  logger: Logger;
  /**
   * Fail a command that gets no answer within this many milliseconds instead
   * of letting a request hang on a stalled Redis. Leave unset for blocking
   * connections (BullMQ workers, subscribers).
   */
  commandTimeoutMs?: number;
  /** Connect on the first command rather than at once. @defaultValue false */
  lazyConnect?: boolean;
}

/** Creates an ioredis client; the caller owns it and closes it with `closeRedis`. */
export function createRedis(url: string, options: RedisClientOptions): Redis {
  const redisOptions: RedisOptions = {
    connectionName: options.connectionName,
    // Reads should fail fast and visibly while Redis is away rather than queue
    // up behind a reconnect; blocking connections wait for it instead.
    maxRetriesPerRequest: options.commandTimeoutMs === undefined ? null : 1,
  };
  if (options.commandTimeoutMs !== undefined) redisOptions.commandTimeout = options.commandTimeoutMs;
  if (options.lazyConnect) redisOptions.lazyConnect = true;
  const redis = new Redis(url, redisOptions);
  // A Redis that is down fails every reconnect attempt: the first is logged, the rest counted.
  const logError = repeatedErrorLog(options.logger, 'redis connection error');
  redis.on('error', (error: Error) => logError(error, { connection: options.connectionName }));
  return redis;
}

/** Quits politely when connected; otherwise drops the connection rather than wait for Redis to return. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'ready') {
    try {
      await redis.quit();
      return;
    } catch {
      // fall through to disconnect
    }
  }
  redis.disconnect();
}
