import { Redis, type RedisOptions } from 'ioredis';

export interface RedisClientOptions {
  /** Shown in `CLIENT LIST`, to tell the service's connections apart. */
  connectionName: string;
  /**
   * Fail a command that gets no answer within this many milliseconds instead
   * of letting a request hang on a stalled Redis. Leave unset for blocking
   * connections (BullMQ workers, subscribers).
   */
  commandTimeoutMs?: number;
}

/** Creates an ioredis client; the caller owns it and quits it on shutdown. */
export function createRedis(url: string, options: RedisClientOptions): Redis {
  const redisOptions: RedisOptions = {
    connectionName: options.connectionName,
    // Reads should fail fast and visibly while Redis is away rather than queue
    // up behind a reconnect; the client keeps reconnecting in the background.
    maxRetriesPerRequest: options.commandTimeoutMs === undefined ? null : 1,
    lazyConnect: false,
  };
  if (options.commandTimeoutMs !== undefined) redisOptions.commandTimeout = options.commandTimeoutMs;
  return new Redis(url, redisOptions);
}
