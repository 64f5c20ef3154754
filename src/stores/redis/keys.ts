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
 */
export interface RedisKeys {
  readonly prefix: string;
  customer(customerId: string): string;
  /** Glob matching every customer key, for SCAN. */
  readonly customerPattern: string;
  readonly segmentChanges: string;
  readonly servingBuilt: string;
  readonly servingUpToDate: string;
  readonly servingReplacing: string;
  readonly membershipEvents: string;
  /** BullMQ's `prefix` option: its keys are `{bullPrefix}:{queue}:...`. */
  readonly bullPrefix: string;
}

export function redisKeys(prefix: string): RedisKeys {
  return {
    prefix,
    customer: (customerId) => `${prefix}c:${customerId}`,
    customerPattern: `${prefix}c:*`,
    segmentChanges: `${prefix}segments:changed`,
    servingBuilt: `${prefix}serving:built`,
    servingUpToDate: `${prefix}serving:up-to-date-at`,
    servingReplacing: `${prefix}serving:replacing`,
    membershipEvents: `${prefix}membership-events`,
    bullPrefix: `${prefix}bull`,
  };
}
