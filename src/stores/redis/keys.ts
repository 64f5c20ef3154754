import calculateSlot from 'cluster-key-slot';

/**
 * The one place Redis key and channel names are built. Every name starts with
 * the configured prefix so deployments and test runs can share a Redis.
 *
 * Layout (docs/operations.md "Redis layout"):
 * - `{prefix}c:{customerId}`: hash of the customer's memberships; field = the
 *   segment's small integer id, value = when the customer entered it (epoch
 *   milliseconds). "All segments of C" is one HGETALL, "is C in S" one HEXISTS.
 *   Hashes of up to 128 small fields use Redis' compact listpack encoding.
 * - `{prefix}segments:changed`: pub/sub channel carrying the id of a segment
 *   whose definition, status or size changed.
 * - `{prefix}serving:built`: when the serving keys were last rebuilt from
 *   Postgres; its absence means Redis lost them (or never had them), and
 *   the serving path reads Postgres instead.
 * - `{prefix}serving:up-to-date-at`: epoch milliseconds before which every
 *   committed change is in the serving keys; the publisher moves it.
 * - `{prefix}serving:replacing`: set of the ids of segments whose members an
 *   import replaced and the publisher is still carrying over; reads take
 *   those segments from Postgres meanwhile (docs/api.md "Member import").
 * - `{prefix}membership-events`: stream of every enter and leave, for
 *   downstream consumers (docs/pipeline.md, "Membership events").
 * - `{prefix}bull:*`: BullMQ's queues.
 *
 * On a Redis Cluster (`layout: 'cluster'`) the customers are spread over
 * CLUSTER_SHARDS shards, each under a hash tag of its own, `{prefix}c:{sN}:{customerId}`,
 * and each shard has its own copy of the three serving marks under the same
 * tag (`{prefix}serving:built:{sN}`...): a page is read with one script per
 * shard, each seeing its shard's marks and customers at the same moment (a
 * script's keys must share a slot), and a node that restarts empty loses its
 * shards' marks with their customers, so only they are read from Postgres
 * until the rebuild. Each queue has its own tag, `{prefix}bull:{queue}`, as
 * BullMQ requires, so the queues spread over the nodes.
 */
export interface RedisKeys {
  readonly prefix: string;
  readonly layout: KeyLayout;
  /** How many shards the customers are spread over: 1 on a single Redis. */
  readonly shards: number;
  /** The shard a customer's keys are in, `0 <= shard < shards`. */
  shardOf(customerId: string): number;
  /** The hash slot of a shard's keys (on a single Redis, meaningless but stable). */
  slotOf(shard: number): number;
  customer(customerId: string): string;
  /** The customer id of a key `customer` built. */
  customerIdOf(key: string): string;
  /** Glob matching every customer key, for SCAN. */
  readonly customerPattern: string;
  readonly segmentChanges: string;
  servingBuilt(shard: number): string;
  servingUpToDate(shard: number): string;
  servingReplacing(shard: number): string;
  readonly membershipEvents: string;
  /** BullMQ's `prefix` option for a queue: its keys are `{bullPrefix}:{queue}:...`. */
  bullPrefix(queue: string): string;
}

/** `single`: one Redis server, the layout every release before clusters wrote. `cluster`: hash-tagged for a Redis Cluster. */
export type KeyLayout = 'single' | 'cluster';

/**
 * Shards of the cluster layout. Each is one hash slot, so this bounds how
 * many masters share the customers (64) and sets the unit a resharding moves
 * (a sixty-fourth of the customers); a page of 100 customers touches about
 * 50 shards, one script each, in one pipeline per node. Changing it (or the
 * tags) is a new layout: the marks live under the tags, so a new layout finds
 * none, serves from Postgres and is rebuilt.
 */
export const CLUSTER_SHARDS = 64;
const SLOTS = 16_384;

export function redisKeys(prefix: string, layout: KeyLayout = 'single'): RedisKeys {
  if (layout === 'single') {
    return {
      prefix,
      layout,
      shards: 1,
      shardOf: () => 0,
      slotOf: () => 0,
      customer: (customerId) => `${prefix}c:${customerId}`,
      customerIdOf: (key) => key.slice(prefix.length + 2),
      customerPattern: `${prefix}c:*`,
      segmentChanges: `${prefix}segments:changed`,
      servingBuilt: () => `${prefix}serving:built`,
      servingUpToDate: () => `${prefix}serving:up-to-date-at`,
      servingReplacing: () => `${prefix}serving:replacing`,
      membershipEvents: `${prefix}membership-events`,
      bullPrefix: () => `${prefix}bull`,
    };
  }
  const tags = shardTags();
  const shardOf = (customerId: string) => Math.floor((calculateSlot(customerId) * CLUSTER_SHARDS) / SLOTS);
  return {
    prefix,
    layout,
    shards: CLUSTER_SHARDS,
    shardOf,
    slotOf: (shard) => calculateSlot(tags[shard]!),
    customer: (customerId) => `${prefix}c:{${tags[shardOf(customerId)]!}}:${customerId}`,
    customerIdOf: (key) => key.slice(key.indexOf('}:', prefix.length) + 2),
    customerPattern: `${prefix}c:*`,
    segmentChanges: `${prefix}segments:changed`,
    servingBuilt: (shard) => `${prefix}serving:built:{${tags[shard]!}}`,
    servingUpToDate: (shard) => `${prefix}serving:up-to-date-at:{${tags[shard]!}}`,
    servingReplacing: (shard) => `${prefix}serving:replacing:{${tags[shard]!}}`,
    membershipEvents: `${prefix}membership-events`,
    bullPrefix: (queue) => `${prefix}bull:{${queue}}`,
  };
}

let tagsMade: readonly string[] | undefined;

/**
 * One hash tag per shard, the Nth falling in the Nth sixty-fourth of the
 * slots (`sN`, or `sN.k` for the first k that lands there): a cluster made
 * with contiguous slot ranges, as `redis-cli --cluster create` and rebalance
 * make them, then holds the shards in equal numbers per master.
 */
function shardTags(): readonly string[] {
  tagsMade ??= Array.from({ length: CLUSTER_SHARDS }, (_, shard) => {
    const inShard = (tag: string) => Math.floor((calculateSlot(tag) * CLUSTER_SHARDS) / SLOTS) === shard;
    if (inShard(`s${shard}`)) return `s${shard}`;
    for (let k = 1; ; k++) if (inShard(`s${shard}.${k}`)) return `s${shard}.${k}`;
  });
  return tagsMade;
}
