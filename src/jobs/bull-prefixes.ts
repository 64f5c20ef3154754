/**
 * Where each queue's keys go: BullMQ's `prefix` option for a queue. The Redis
 * key layout (`redisKeys`) provides it: one prefix for every queue on a
 * single Redis, a hash tag per queue on a Redis Cluster.
 */
export interface BullPrefixes {
  bullPrefix(queue: string): string;
}
