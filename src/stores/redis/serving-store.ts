import type { Redis } from 'ioredis';
import type { CustomerMemberships } from '../postgres/membership-repository.js';
import type { RedisKeys } from './keys.js';
import { defineLuaCommand } from './lua-commands.js';

/** A customer's memberships as served: segment id -> when the customer entered it, in epoch milliseconds. */
export type MembershipSnapshot = ReadonlyMap<number, number>;

/** What one read of the serving keys returns, with what it says about their freshness. */
export interface ServedMemberships {
  /** In the order of the customer ids asked for; a customer without a key has an empty snapshot. */
  snapshots: MembershipSnapshot[];
  /** False when the keys were never built or Redis lost them: the snapshots cannot be trusted. */
  built: boolean;
  /** Every change committed before this time is in the keys (see `REFLECTED_UP_TO_SQL`); null when unknown. */
  upToDateAt: Date | null;
  /**
   * Segments whose members an import replaced and whose changes are being
   * applied: the snapshots may hold some customers' old membership and other
   * customers' new one, so these segments must be read from Postgres.
   */
  replacing: number[];
}

/**
 * What a publication batch says about the segments being replaced (see
 * `ServedMemberships.replacing`): `begin` before its changes are applied,
 * `end` after them, or `'all'` once every pending change is applied.
 */
export interface ReplacingSegments {
  begin: readonly number[];
  end: readonly number[] | 'all';
}

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
  ) {
    defineLuaCommand(redis, 'readMemberships', 'read-memberships');
    defineLuaCommand(redis, 'applyMembershipChanges', 'apply-membership-changes');
  }

  /**
   * Reads the memberships of many customers, the keys' build mark and the
   * freshness watermark with one command (commands/read-memberships.lua, a read-only
   * script): one round trip and one reply, whatever the number of customers.
   * A pipeline of HGETALLs costs a command object, a promise and a reply
   * conversion per customer, which at a page of customers is most of the
   * client's work.
   */
  async readMany(customerIds: readonly string[]): Promise<ServedMemberships> {
    const keys = [this.keys.servingBuilt, this.keys.servingUpToDate, this.keys.servingReplacing, ...customerIds.map((id) => this.keys.customer(id))];
    // ioredis sends EVALSHA, and EVAL when Redis answers NOSCRIPT (a restarted Redis).
    const reply = (await (this.redis as ReadMembershipsCommand).readMemberships(keys.length, ...keys)) as [string | null, string | null, string[], ...string[][]];
    if (!Array.isArray(reply) || reply.length !== customerIds.length + 3) throw new Error('unexpected reply to the membership read');
    const [built, upToDateAt, replacing, ...hashes] = reply;
    return {
      built: built !== null,
      upToDateAt: upToDateAt === null ? null : new Date(Number(upToDateAt)),
      replacing: replacing.map(Number),
      snapshots: hashes.map(toSnapshot),
    };
  }

  /**
   * Replaces these customers' keys with exactly the memberships given (a
   * customer with none loses its key). Each chunk is one MULTI, so a reader
   * never sees a half-written customer.
   */
  async replaceCustomers(customers: readonly CustomerMemberships[]): Promise<void> {
    const perChunk = Math.max(1, Math.floor(WRITE_CHUNK / 2));
    for (let start = 0; start < customers.length; start += perChunk) {
      const transaction = this.redis.multi();
      for (const { customerId, memberships } of customers.slice(start, start + perChunk)) {
        const key = this.keys.customer(customerId);
        transaction.del(key);
        if (memberships.length > 0) {
          transaction.hset(key, Object.fromEntries(memberships.map((m) => [m.segmentId, m.since.getTime()])));
        }
      }
      await execOrThrow(transaction.exec());
    }
  }

  /**
   * Applies membership changes in the order given (commands/apply-membership-changes.lua): ENTERED sets the
   * customer's field to when they entered, LEFT removes it. Applying the same
   * changes again, in the same order, leaves the same keys, so a publication
   * retried after a crash converges. With `upToDateAt`, moves the freshness
   * watermark after the changes, in the same pipeline. With `replacing`,
   * marks segments as being replaced before the changes and unmarks them
   * after: Redis runs a pipeline's commands in order, so no read sees a
   * replacement's first change without its mark. One pipeline per call.
   */
  async applyChanges(
    changes: ReadonlyArray<{ segmentId: number; customerId: string; change: 'ENTERED' | 'LEFT'; at: Date }>,
    upToDateAt?: Date,
    replacing?: ReplacingSegments,
  ): Promise<void> {
    if (changes.length === 0 && upToDateAt === undefined && replacing === undefined) return;
    const pipeline = this.redis.pipeline() as ReturnType<Redis['pipeline']> & ApplyChangesCommand;
    if (replacing && replacing.begin.length > 0) pipeline.sadd(this.keys.servingReplacing, ...replacing.begin.map(String));
    for (let start = 0; start < changes.length; start += WRITE_CHUNK) {
      const chunk = changes.slice(start, start + WRITE_CHUNK);
      const args: string[] = chunk.map((c) => this.keys.customer(c.customerId));
      for (const c of chunk) args.push(String(c.segmentId), c.change === 'ENTERED' ? String(c.at.getTime()) : '');
      // ioredis sends EVALSHA, and EVAL when Redis answers NOSCRIPT (a restarted Redis).
      pipeline.applyMembershipChanges(chunk.length, ...args);
    }
    if (replacing?.end === 'all') pipeline.del(this.keys.servingReplacing);
    else if (replacing && replacing.end.length > 0) pipeline.srem(this.keys.servingReplacing, ...replacing.end.map(String));
    if (upToDateAt !== undefined) pipeline.set(this.keys.servingUpToDate, String(upToDateAt.getTime()));
    await execOrThrow(pipeline.exec());
  }

  /** The ids of every customer that has a serving key, a SCAN page at a time. */
  async *customerIdBatches(count = WRITE_CHUNK): AsyncGenerator<string[]> {
    const keyPrefixLength = this.keys.customer('').length;
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', this.keys.customerPattern, 'COUNT', count);
      if (keys.length > 0) yield keys.map((key) => key.slice(keyPrefixLength));
      cursor = next;
    } while (cursor !== '0');
  }

  async deleteCustomers(customerIds: readonly string[]): Promise<void> {
    if (customerIds.length === 0) return;
    await this.redis.unlink(...customerIds.map((id) => this.keys.customer(id)));
  }

  /** Records that the serving keys are complete as of now. */
  async markBuilt(at = new Date()): Promise<void> {
    await this.redis.set(this.keys.servingBuilt, at.toISOString());
  }

  /** When the serving keys were last rebuilt, or null when Redis has lost them. */
  async builtAt(): Promise<Date | null> {
    const value = await this.redis.get(this.keys.servingBuilt);
    return value === null ? null : new Date(value);
  }
}

type ApplyChangesCommand = { applyMembershipChanges(numberOfKeys: number, ...args: string[]): unknown };

type ReadMembershipsCommand = Redis & { readMemberships(numberOfKeys: number, ...keys: string[]): Promise<unknown> };

function toSnapshot(fields: string[]): MembershipSnapshot {
  const snapshot = new Map<number, number>();
  for (let i = 0; i < fields.length; i += 2) snapshot.set(Number(fields[i]), Number(fields[i + 1]));
  return snapshot;
}

async function execOrThrow(result: Promise<Array<[Error | null, unknown]> | null>): Promise<void> {
  for (const [error] of (await result) ?? []) if (error) throw error;
}
