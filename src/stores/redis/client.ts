import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../../platform/logger.js';
import { repeatedErrorLog } from '../../platform/repeated-error-log.js';

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
  /**
   * A connection with commands waiting that reads nothing for this long is
   * dropped and reopened (see `dropWhenStalled`). Longer than the longest
   * wait a command may legitimately have (a blocking command's timeout).
   * @defaultValue 5000 with `commandTimeoutMs`, else 30000
   */
  stallMs?: number;
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
  dropWhenStalled(redis, options.stallMs ?? (options.commandTimeoutMs === undefined ? 30_000 : 5_000), () =>
    options.logger.warn({ connection: options.connectionName }, 'redis connection stalled: commands got no answer; reconnecting'),
  );
  return redis;
}

/**
 * Drops a connection whose commands get no answer for `stallMs`, so that
 * ioredis opens a new one. A connection whose bytes vanish (the server failed
 * over behind a DNS name, a NAT entry expired) stays open for as long as TCP
 * keeps retransmitting, a quarter of an hour: command timeouts fail each
 * command but never replace the connection, and every later command waits
 * on the same dead socket. Only reads count as life (a socket's own idle
 * timeout counts writes too, and a client retrying keeps writing), and an
 * idle connection is left alone: silence with nothing asked is not a stall.
 * The verdict waits until the event loop has read what arrived, so that a
 * loop busy for longer than `stallMs` (a worker compiling rules) does not
 * drop a healthy connection whose reply is waiting to be read.
 */
export function dropWhenStalled(redis: Redis, stallMs: number, onStall: () => void): void {
  redis.on('connect', () => {
    const socket = redis.stream;
    // Since when commands have waited with nothing read; null while none waits.
    let waitingSince: number | null = null;
    socket.on('data', () => (waitingSince = null));
    const check = setInterval(() => {
      if (pendingCommands(redis) === 0) return void (waitingSince = null);
      const now = Date.now();
      waitingSince ??= now;
      if (now - waitingSince < stallMs) return;
      setImmediate(() => {
        if (socket.destroyed || waitingSince === null || pendingCommands(redis) === 0) return;
        onStall();
        socket.destroy();
      });
    }, Math.max(50, Math.floor(stallMs / 5)));
    check.unref();
    socket.once('close', () => clearInterval(check));
  });
}

// ioredis keeps the commands sent and not yet answered in `commandQueue` (replies are matched by position).
const pendingCommands = (redis: Redis) => (redis as unknown as { commandQueue: { length: number } }).commandQueue.length;

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
