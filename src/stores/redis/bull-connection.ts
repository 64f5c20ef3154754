import type { ConnectionOptions } from 'bullmq';
import type { Cluster } from 'ioredis';
import { closeRedis, createCluster, isClusterTarget, type RedisTarget } from './client.js';
import type { Logger } from '../../platform/logger.js';

// Longer than any blocking wait of BullMQ's (its workers block for at most about 10 s).
export const BULL_STALL_MS = 30_000;

/**
 * BullMQ's connection to `target`. For one server, connection options: each
 * queue and worker opens its own connections (watched by
 * `watchBullConnections`). For a cluster, a Cluster client that the queues
 * and workers given it share (BullMQ duplicates it for a worker's blocking
 * reads), which the caller closes with `closeBullConnection` after them.
 */
export function bullConnection(target: RedisTarget, connectionName: string, logger?: Logger): ConnectionOptions {
  if (!isClusterTarget(target)) return { url: target.url, connectionName, maxRetriesPerRequest: null };
  return createCluster(target.clusterNodes, { redisOptions: { connectionName, maxRetriesPerRequest: null }, lazyConnect: true }, BULL_STALL_MS, () =>
    logger?.warn({ connection: connectionName }, 'redis connection stalled: commands got no answer; reconnecting'),
  );
}

/** Closes what `bullConnection` opened (a cluster client); connection options own nothing. */
export async function closeBullConnection(connection: ConnectionOptions): Promise<void> {
  if ((connection as Partial<Cluster>).isCluster === true) await closeRedis(connection as Cluster);
}
