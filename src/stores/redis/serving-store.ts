import type { Redis } from 'ioredis';
import type { Member } from '../postgres/membership-repository.js';
import type { RedisKeys } from './keys.js';

/** A customer's memberships as served: segment id -> when the customer entered it. */
export type MembershipSnapshot = ReadonlyMap<number, Date>;

// Writes go out in pipelines of this many commands: large enough to amortise
// round trips, small enough not to block Redis or buffer much in Node.
const WRITE_CHUNK = 1000;

/**
 * The Redis serving store: one hash per customer (see `redisKeys`). The only
 * place with Redis commands about memberships.
 */
export class MembershipServingStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /**
   * Reads the memberships of many customers in one round trip (a single
   * pipeline of HGETALLs), whatever their number. Results are in the order of
   * `customerIds`; a customer without a key has an empty snapshot.
   */
  async readMany(customerIds: readonly string[]): Promise<Array<MembershipSnapshot | Error>> {
    const pipeline = this.redis.pipeline();
    for (const id of customerIds) pipeline.hgetall(this.keys.customer(id));
    const replies = (await pipeline.exec()) ?? [];
    return customerIds.map((_, i) => {
      const [error, hash] = replies[i] ?? [new Error('missing pipeline reply'), null];
      if (error) return error;
      return toSnapshot(hash as Record<string, string>);
    });
  }

  /** Adds members to a segment; customers already in it keep their `since`. */
  async add(segmentId: number, members: readonly Member[]): Promise<void> {
    const field = String(segmentId);
    for (let start = 0; start < members.length; start += WRITE_CHUNK) {
      const pipeline = this.redis.pipeline();
      for (const m of members.slice(start, start + WRITE_CHUNK)) {
        pipeline.hsetnx(this.keys.customer(m.customerId), field, m.since.getTime());
      }
      await execOrThrow(pipeline.exec());
    }
  }

  async remove(segmentId: number, customerIds: readonly string[]): Promise<void> {
    const field = String(segmentId);
    for (let start = 0; start < customerIds.length; start += WRITE_CHUNK) {
      const pipeline = this.redis.pipeline();
      for (const id of customerIds.slice(start, start + WRITE_CHUNK)) pipeline.hdel(this.keys.customer(id), field);
      await execOrThrow(pipeline.exec());
    }
  }
}

function toSnapshot(hash: Record<string, string>): MembershipSnapshot {
  const snapshot = new Map<number, Date>();
  for (const [segmentId, sinceMs] of Object.entries(hash)) snapshot.set(Number(segmentId), new Date(Number(sinceMs)));
  return snapshot;
}

async function execOrThrow(result: Promise<Array<[Error | null, unknown]> | null>): Promise<void> {
  for (const [error] of (await result) ?? []) if (error) throw error;
}
