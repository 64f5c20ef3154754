import { once } from 'node:events';
import type { Cluster, Redis } from 'ioredis';
import type { RedisClient } from './client.js';
import type { RedisKeys } from './keys.js';

/**
 * The shards grouped by the node that holds them, so a caller sends one
 * pipeline per node, in parallel, and a call costs one round trip per node
 * touched. A single Redis is one node. A shard whose slot the client does not
 * know yet (a cluster client that has not loaded the slot map) is a group of
 * its own, routed by ioredis.
 */
export function shardsByNode(redis: RedisClient, keys: RedisKeys, shards: Iterable<number>): number[][] {
  if (!redis.isCluster) return [[...shards]];
  const slots = (redis as Cluster).slots;
  const groups = new Map<string, number[]>();
  for (const shard of shards) {
    const node = slots[keys.slotOf(shard)]?.[0] ?? `unknown:${shard}`;
    const group = groups.get(node);
    if (group) group.push(shard);
    else groups.set(node, [shard]);
  }
  return [...groups.values()];
}

/** Every shard number, for what goes to all of them (the serving marks). */
export const allShards = (keys: RedisKeys): number[] => Array.from({ length: keys.shards }, (_, shard) => shard);

// How long a scan waits for a cluster client that is (re)connecting.
const READY_WAIT_MS = 10_000;

/**
 * The connections to SCAN to see every key: the server itself, or every
 * master of a cluster (a SCAN sees only the keys of the node it runs on).
 * Waits for a cluster client to connect first, so that no master is missed.
 */
export async function masterNodes(redis: RedisClient): Promise<Redis[]> {
  if (!redis.isCluster) return [redis as Redis];
  const cluster = redis as Cluster;
  if (cluster.status === 'wait') await cluster.connect();
  else if (cluster.status !== 'ready') await once(cluster, 'ready', { signal: AbortSignal.timeout(READY_WAIT_MS) });
  const masters = cluster.nodes('master');
  if (masters.length === 0) throw new Error('the Redis Cluster has no master');
  return masters;
}
