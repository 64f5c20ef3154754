import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Logger } from '../../platform/logger.js';
import { repeatedErrorLog } from '../../platform/repeated-error-log.js';

/** A Redis seed node of a cluster, as REDIS_CLUSTER_NODES lists them. */
export interface ClusterNode {
  host: string;
  port: number;
}

/**
 * Where Redis is: one server (REDIS_URL), or a Redis Cluster reached through
 * its seed nodes (REDIS_CLUSTER_NODES), whose keys are laid out for it
 * (`redisKeys`).
 */
export type RedisTarget = { readonly url: string } | { readonly clusterNodes: readonly ClusterNode[] };

/** A connection to the configured Redis: ioredis' client for one server, or its Cluster client. */
export type RedisClient = Redis | Cluster;

export const isClusterTarget = (target: RedisTarget): target is { readonly clusterNodes: readonly ClusterNode[] } => 'clusterNodes' in target;

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

/** Creates a client of `target`; the caller owns it and closes it with `closeRedis`. */
export function createRedis(target: RedisTarget, options: RedisClientOptions): RedisClient {
  const nodeOptions: RedisOptions = {
    connectionName: options.connectionName,
    // Reads should fail fast and visibly while Redis is away rather than queue
    // up behind a reconnect; blocking connections wait for it instead.
    maxRetriesPerRequest: options.commandTimeoutMs === undefined ? null : 1,
  };
  if (options.commandTimeoutMs !== undefined) nodeOptions.commandTimeout = options.commandTimeoutMs;
  const stallMs = options.stallMs ?? (options.commandTimeoutMs === undefined ? 30_000 : 5_000);
  const onStall = () => options.logger.warn({ connection: options.connectionName }, 'redis connection stalled: commands got no answer; reconnecting');
  const redis = isClusterTarget(target)
    ? createCluster(target.clusterNodes, { redisOptions: nodeOptions, ...(options.lazyConnect ? { lazyConnect: true } : {}) }, stallMs, onStall)
    : new Redis(target.url, { ...nodeOptions, ...(options.lazyConnect ? { lazyConnect: true } : {}) });
  if (!redis.isCluster) dropWhenStalled(redis as Redis, stallMs, onStall);
  // A Redis that is down fails every reconnect attempt: the first is logged, the rest counted.
  const logError = repeatedErrorLog(options.logger, 'redis connection error');
  redis.on('error', (error: Error) => logError(error, { connection: options.connectionName }));
  return redis;
}

/**
 * ioredis' Cluster client, every node connection of which (and of its
 * duplicates, which BullMQ makes for its blocking reads) is dropped when it
 * stalls, as a single server's connection is.
 */
export function createCluster(nodes: readonly ClusterNode[], options: ClusterOptions, stallMs: number, onStall: () => void): Cluster {
  return new WatchedCluster(
    nodes.map(({ host, port }) => ({ host, port })),
    {
      // Every command goes to the slot's master: a replica may be behind, and
      // the serving read must see what publication wrote.
      scaleReads: 'master',
      ...options,
    },
    { stallMs, onStall },
  );
}

type SeedNodes = ConstructorParameters<typeof Cluster>[0];

class WatchedCluster extends Cluster {
  constructor(
    private readonly seeds: SeedNodes,
    options: ClusterOptions,
    private readonly stall: { stallMs: number; onStall: () => void },
  ) {
    super(seeds, options);
    this.on('+node', (node: Redis) => dropWhenStalled(node, stall.stallMs, stall.onStall));
  }

  override duplicate(overrideStartupNodes: SeedNodes = [], overrideOptions: ClusterOptions = {}): Cluster {
    return new WatchedCluster(overrideStartupNodes.length > 0 ? overrideStartupNodes : this.seeds, { ...this.options, ...overrideOptions }, this.stall);
  }
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
export async function closeRedis(redis: RedisClient): Promise<void> {
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
