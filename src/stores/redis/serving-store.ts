import type { CustomerMemberships } from '../postgres/membership-repository.js';
import type { RedisClient } from './client.js';
import type { RedisKeys } from './keys.js';
import { allShards, masterNodes, shardsByNode } from './shard-nodes.js';
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
 * place with Redis commands about memberships. On a Redis Cluster every call
 * groups its keys by shard (one hash slot each) and the shards by node, and
 * sends one pipeline per node, in parallel.
 */
export class MembershipServingStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {
    defineLuaCommand(redis, 'readMemberships', 'read-memberships');
    defineLuaCommand(redis, 'applyMembershipChanges', 'apply-membership-changes');
  }

  /**
   * Reads the memberships of many customers with their shard's build mark,
   * freshness watermark and replacement marks, one read-only script
   * (commands/read-memberships.lua) per shard: on a single Redis one round
   * trip and one reply, whatever the number of customers; on a cluster one
   * pipeline per node touched. A pipeline of HGETALLs costs a command object,
   * a promise and a reply conversion per customer, which at a page of
   * customers is most of the client's work. The page is as built as its least
   * built shard and as fresh as its least fresh one.
   */
  async readMany(customerIds: readonly string[]): Promise<ServedMemberships> {
    const byShard = positionsByShard(customerIds, this.keys);
    if (byShard.size === 0) byShard.set(0, []);
    const groups = shardsByNode(this.redis, this.keys, byShard.keys());
    const replies = await Promise.all(groups.map((group) => this.readShards(group, byShard, customerIds)));
    const snapshots: MembershipSnapshot[] = new Array<MembershipSnapshot>(customerIds.length);
    const replacing = new Set<number>();
    let built = true;
    let upToDateAt: number | null = Number.POSITIVE_INFINITY;
    groups.forEach((group, g) =>
      group.forEach((shard, i) => {
        const [shardBuilt, shardUpToDate, shardReplacing, ...hashes] = replies[g]![i]!;
        built &&= shardBuilt !== null;
        upToDateAt = shardUpToDate === null || upToDateAt === null ? null : Math.min(upToDateAt, Number(shardUpToDate));
        for (const id of shardReplacing) replacing.add(Number(id));
        byShard.get(shard)!.forEach((position, h) => (snapshots[position] = toSnapshot(hashes[h]!)));
      }),
    );
    return { built, upToDateAt: upToDateAt === null ? null : new Date(upToDateAt), replacing: [...replacing], snapshots };
  }

  private async readShards(group: readonly number[], byShard: ReadonlyMap<number, readonly number[]>, customerIds: readonly string[]): Promise<ShardRead[]> {
    const keysOf = (shard: number) => [
      this.keys.servingBuilt(shard),
      this.keys.servingUpToDate(shard),
      this.keys.servingReplacing(shard),
      ...byShard.get(shard)!.map((position) => this.keys.customer(customerIds[position]!)),
    ];
    // ioredis sends EVALSHA, and EVAL when Redis answers NOSCRIPT (a restarted Redis).
    if (group.length === 1) {
      const keys = keysOf(group[0]!);
      return [checkedRead(await (this.redis as unknown as ReadMembershipsCommand).readMemberships(keys.length, ...keys), keys.length)];
    }
    const pipeline = this.redis.pipeline() as Pipeline & ReadMembershipsCommand;
    const sizes = group.map((shard) => {
      const keys = keysOf(shard);
      void pipeline.readMemberships(keys.length, ...keys);
      return keys.length;
    });
    const results = (await pipeline.exec()) ?? [];
    return results.map(([error, reply], i) => {
      if (error) throw error;
      return checkedRead(reply, sizes[i]!);
    });
  }

  /**
   * Replaces these customers' keys with exactly the memberships given (a
   * customer with none loses its key). Each chunk of a shard is one MULTI, so
   * a reader never sees a half-written customer.
   */
  async replaceCustomers(customers: readonly CustomerMemberships[]): Promise<void> {
    const perChunk = Math.max(1, Math.floor(WRITE_CHUNK / 2));
    const byShard = new Map<number, CustomerMemberships[]>();
    for (const customer of customers) push(byShard, this.keys.shardOf(customer.customerId), customer);
    await Promise.all(
      [...byShard.values()].map(async (inShard) => {
        for (let start = 0; start < inShard.length; start += perChunk) {
          const transaction = this.redis.multi();
          for (const { customerId, memberships } of inShard.slice(start, start + perChunk)) {
            const key = this.keys.customer(customerId);
            transaction.del(key);
            if (memberships.length > 0) {
              transaction.hset(key, Object.fromEntries(memberships.map((m) => [m.segmentId, m.since.getTime()])));
            }
          }
          await execOrThrow(transaction.exec());
        }
      }),
    );
  }

  /**
   * Applies membership changes (commands/apply-membership-changes.lua): ENTERED sets the
   * customer's field to when they entered, LEFT removes it, each only when its
   * event id is newer than the one that last set the field. So applying
   * changes again, twice at once, or in any order leaves the keys of the
   * newest events: a publication retried after a crash, a second publisher or
   * a pipeline that lands late cannot leave Redis behind Postgres. With `upToDateAt`, moves the freshness
   * watermark after the changes. With `replacing`, marks segments as being
   * replaced before the changes and unmarks them after, in every shard: Redis
   * runs a pipeline's commands in order, so on a single Redis one pipeline
   * does it and no read sees a replacement's first change without its mark.
   * On a cluster the nodes' pipelines run side by side, so each of the three
   * steps waits for the one before on every node (only a batch with marks to
   * set or clear pays for three round trips).
   */
  async applyChanges(
    changes: ReadonlyArray<{ id: string; segmentId: number; customerId: string; change: 'ENTERED' | 'LEFT'; at: Date }>,
    upToDateAt?: Date,
    replacing?: ReplacingSegments,
  ): Promise<void> {
    if (changes.length === 0 && upToDateAt === undefined && replacing === undefined) return;
    const byShard = new Map<number, Array<(typeof changes)[number]>>();
    for (const change of changes) push(byShard, this.keys.shardOf(change.customerId), change);
    const every = allShards(this.keys);
    const steps: WriteStep[] = [];
    const begin = replacing?.begin.map(String) ?? [];
    if (begin.length > 0) steps.push({ shards: every, write: (pipeline, shard) => pipeline.sadd(this.keys.servingReplacing(shard), ...begin) });
    steps.push({
      shards: upToDateAt === undefined ? [...byShard.keys()] : every,
      write: (pipeline, shard) => {
        const inShard = byShard.get(shard) ?? [];
        for (let start = 0; start < inShard.length; start += WRITE_CHUNK) {
          const chunk = inShard.slice(start, start + WRITE_CHUNK);
          const args: string[] = chunk.map((c) => this.keys.customer(c.customerId));
          for (const c of chunk) args.push(String(c.segmentId), c.change === 'ENTERED' ? String(c.at.getTime()) : '', c.id);
          // ioredis sends EVALSHA, and EVAL when Redis answers NOSCRIPT (a restarted Redis).
          void (pipeline as Pipeline & ApplyChangesCommand).applyMembershipChanges(chunk.length, ...args);
        }
        if (upToDateAt !== undefined) pipeline.set(this.keys.servingUpToDate(shard), String(upToDateAt.getTime()));
      },
    });
    const end = replacing?.end;
    if (end === 'all') steps.push({ shards: every, write: (pipeline, shard) => pipeline.del(this.keys.servingReplacing(shard)) });
    else if (end && end.length > 0) steps.push({ shards: every, write: (pipeline, shard) => pipeline.srem(this.keys.servingReplacing(shard), ...end.map(String)) });
    if (this.keys.shards === 1) {
      const pipeline = this.redis.pipeline();
      for (const step of steps) step.write(pipeline, 0);
      await execOrThrow(pipeline.exec());
      return;
    }
    for (const step of steps) await this.eachNode(step.shards, step.write);
  }

  /** The ids of every customer that has a serving key, a SCAN page at a time, from every master. */
  async *customerIdBatches(count = WRITE_CHUNK): AsyncGenerator<string[]> {
    for (const node of await masterNodes(this.redis)) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', this.keys.customerPattern, 'COUNT', count);
        if (keys.length > 0) yield keys.map((key) => this.keys.customerIdOf(key));
        cursor = next;
      } while (cursor !== '0');
    }
  }

  async deleteCustomers(customerIds: readonly string[]): Promise<void> {
    if (customerIds.length === 0) return;
    const byShard = new Map<number, string[]>();
    for (const id of customerIds) push(byShard, this.keys.shardOf(id), this.keys.customer(id));
    await this.eachNode([...byShard.keys()], (pipeline, shard) => pipeline.unlink(...byShard.get(shard)!));
  }

  /** Records that the serving keys are complete as of `at`, in every shard. */
  async markBuilt(at = new Date()): Promise<void> {
    await this.eachNode(allShards(this.keys), (pipeline, shard) => pipeline.set(this.keys.servingBuilt(shard), at.toISOString()));
  }

  /** When the serving keys were last rebuilt (the oldest shard's mark), or null when Redis has lost any shard's. */
  async builtAt(): Promise<Date | null> {
    const marks = (await this.eachNode(allShards(this.keys), (pipeline, shard) => pipeline.get(this.keys.servingBuilt(shard)))).flat();
    if (marks.some((mark) => mark === null)) return null;
    return new Date(Math.min(...marks.map((mark) => new Date(mark as string).getTime())));
  }

  /** Writes `write(pipeline, shard)` for each shard, one pipeline per node, in parallel; the replies in each node's order. */
  private eachNode(shards: readonly number[], write: WriteStep['write']): Promise<unknown[][]> {
    return Promise.all(
      shardsByNode(this.redis, this.keys, shards).map(async (group) => {
        const pipeline = this.redis.pipeline();
        for (const shard of group) write(pipeline, shard);
        return execOrThrow(pipeline.exec());
      }),
    );
  }
}

type Pipeline = ReturnType<RedisClient['pipeline']>;

/** Commands written to every shard of a step, the steps one after the other. */
interface WriteStep {
  shards: readonly number[];
  write: (pipeline: Pipeline, shard: number) => unknown;
}

/** One shard's answer to read-memberships.lua: its build mark, watermark, replacement marks, then each customer's hash. */
type ShardRead = [string | null, string | null, string[], ...string[][]];

type ApplyChangesCommand = { applyMembershipChanges(numberOfKeys: number, ...args: string[]): unknown };

type ReadMembershipsCommand = { readMemberships(numberOfKeys: number, ...keys: string[]): Promise<unknown> };

function checkedRead(reply: unknown, keyCount: number): ShardRead {
  if (!Array.isArray(reply) || reply.length !== keyCount) throw new Error('unexpected reply to the membership read');
  return reply as ShardRead;
}

/** Each shard's positions in `customerIds`, in order. */
function positionsByShard(customerIds: readonly string[], keys: RedisKeys): Map<number, number[]> {
  const byShard = new Map<number, number[]>();
  customerIds.forEach((id, position) => push(byShard, keys.shardOf(id), position));
  return byShard;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const values = map.get(key);
  if (values) values.push(value);
  else map.set(key, [value]);
}

// A member's field is its segment id, its value `<entered at ms>` or
// `<entered at ms>:<event id>`; `-<segment id>` fields remember a leave's event
// id (commands/apply-membership-changes.lua) and are not memberships.
function toSnapshot(fields: string[]): MembershipSnapshot {
  const snapshot = new Map<number, number>();
  for (let i = 0; i < fields.length; i += 2) {
    const field = fields[i]!;
    if (field.startsWith('-')) continue;
    snapshot.set(Number(field), Number.parseInt(fields[i + 1]!, 10));
  }
  return snapshot;
}

async function execOrThrow(result: Promise<Array<[Error | null, unknown]> | null>): Promise<unknown[]> {
  const replies = (await result) ?? [];
  for (const [error] of replies) if (error) throw error;
  return replies.map(([, reply]) => reply);
}
