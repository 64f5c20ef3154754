import calculateSlot from 'cluster-key-slot';
import { describe, expect, it } from 'vitest';
import { CLUSTER_SHARDS, redisKeys } from '../../src/stores/redis/keys.js';

describe('the single-Redis key layout', () => {
  const keys = redisKeys('segments:');

  it.each([
    ['customer', keys.customer('c-42'), 'segments:c:c-42'],
    ['build mark', keys.servingBuilt(0), 'segments:serving:built'],
    ['watermark', keys.servingUpToDate(0), 'segments:serving:up-to-date-at'],
    ['replacement marks', keys.servingReplacing(0), 'segments:serving:replacing'],
    ['stream', keys.membershipEvents, 'segments:membership-events'],
    ['channel', keys.segmentChanges, 'segments:segments:changed'],
    ['queues', keys.bullPrefix('recompute'), 'segments:bull'],
  ])('keeps the names of every earlier release: %s', (_, name, expected) => {
    expect(name).toBe(expected);
  });

  it('has one shard, and reads customer ids back from keys', () => {
    expect(keys.shards).toBe(1);
    expect(keys.shardOf('anyone')).toBe(0);
    expect(keys.customerIdOf(keys.customer('c:with:colons'))).toBe('c:with:colons');
  });
});

describe('the Redis Cluster key layout', () => {
  const keys = redisKeys('segments:', 'cluster');
  const customers = Array.from({ length: 2000 }, (_, i) => `customer-${i}`);

  it('puts a customer key in its shard, in the slot of its shard marks', () => {
    for (const id of customers) {
      const shard = keys.shardOf(id);
      const slot = calculateSlot(keys.customer(id));
      expect(slot).toBe(keys.slotOf(shard));
      expect(calculateSlot(keys.servingBuilt(shard))).toBe(slot);
      expect(calculateSlot(keys.servingUpToDate(shard))).toBe(slot);
      expect(calculateSlot(keys.servingReplacing(shard))).toBe(slot);
      expect(keys.customerIdOf(keys.customer(id))).toBe(id);
    }
  });

  it('reads back customer ids holding braces and colons', () => {
    for (const id of ['a}b', '{x}', 'c:1}:2', '']) expect(keys.customerIdOf(keys.customer(id))).toBe(id);
  });

  it('spreads the shards evenly over the slots, so equal slot ranges hold equal shards', () => {
    const slots = Array.from({ length: CLUSTER_SHARDS }, (_, shard) => keys.slotOf(shard));
    slots.forEach((slot, shard) => expect(Math.floor((slot * CLUSTER_SHARDS) / 16_384)).toBe(shard));
    // The three ranges `redis-cli --cluster create` gives three masters.
    const perMaster = [0, 0, 0];
    for (const slot of slots) perMaster[slot <= 5460 ? 0 : slot <= 10_922 ? 1 : 2]!++;
    expect(Math.max(...perMaster) - Math.min(...perMaster)).toBeLessThanOrEqual(1);
  });

  it('spreads customers over every shard', () => {
    const perShard = new Map<number, number>();
    for (const id of customers) perShard.set(keys.shardOf(id), (perShard.get(keys.shardOf(id)) ?? 0) + 1);
    expect(perShard.size).toBe(CLUSTER_SHARDS);
    // 2,000 customers over 64 shards: about 31 each.
    expect(Math.min(...perShard.values())).toBeGreaterThan(10);
    expect(Math.max(...perShard.values())).toBeLessThan(60);
  });

  it('gives each queue a hash tag of its own, as BullMQ needs in a cluster', () => {
    expect(keys.bullPrefix('recompute')).toBe('segments:bull:{recompute}');
    expect(calculateSlot(`${keys.bullPrefix('recompute')}:recompute:wait`)).toBe(calculateSlot(`${keys.bullPrefix('recompute')}:recompute:active`));
    expect(calculateSlot(keys.bullPrefix('recompute'))).not.toBe(calculateSlot(keys.bullPrefix('order-events')));
  });
});
