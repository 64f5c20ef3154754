import type pg from 'pg';
import type { RedisClient } from '../src/stores/redis/client.js';
import type { RedisKeys } from '../src/stores/redis/keys.js';
import { masterNodes } from '../src/stores/redis/shard-nodes.js';

/** Bytes a table takes (heap, indexes, TOAST) per row. */
export interface TableStorage {
  table: string;
  bytes: number;
  rows: number;
  bytesPerRow: number | null;
}

export interface MembershipStorage {
  customers: number;
  /** Segments not archived. */
  segments: number;
  memberships: TableStorage;
  events: TableStorage;
  /** Memberships / (customers x segments): how many of the customers a segment holds, on average. */
  membershipsPerCustomerPerSegment: number | null;
  redis: {
    /** Customer serving keys sampled (customers without memberships have none). */
    keysSampled: number;
    membershipsSampled: number;
    /** `MEMORY USAGE` of the sampled keys over the memberships they hold. */
    bytesPerMembership: number | null;
    /** Hashes up to this many fields are listpacks; longer ones are hash tables, several times the bytes per field. */
    listpackMaxEntries: number | null;
  };
  projection: StorageProjection;
}

/** What `segments` segments over `customers` customers would need at the measured averages. */
export interface StorageProjection {
  customers: number;
  segments: number;
  memberships: number | null;
  membershipsPerCustomer: number | null;
  postgresMembershipsBytes: number | null;
  /** At the measured events per membership. */
  postgresEventsBytes: number | null;
  /** At the measured bytes per membership, which holds only while a customer's hash stays a listpack. */
  redisBytes: number | null;
}

const TARGET = { customers: 10_000_000, segments: 100_000 };

async function tableStorage(pool: pg.Pool, table: 'segment_memberships' | 'segment_membership_events'): Promise<TableStorage> {
  const { rows } = await pool.query<{ bytes: string; rows: string }>(
    `SELECT pg_total_relation_size('${table}') AS bytes, (SELECT count(*) FROM ${table}) AS rows`,
  );
  const bytes = Number(rows[0]!.bytes);
  const count = Number(rows[0]!.rows);
  return { table, bytes, rows: count, bytesPerRow: count === 0 ? null : Math.round(bytes / count) };
}

/**
 * Storage per membership in Postgres (`pg_total_relation_size` over the row
 * count of the memberships and of their events) and in Redis (`MEMORY USAGE`
 * over a sample of customer serving keys, over the memberships they hold),
 * with a projection to issue 15's 100,000 segments over 10M customers.
 */
export async function membershipStorage(pool: pg.Pool, redis: RedisClient, keys: RedisKeys, sampleKeys = 1000): Promise<MembershipStorage> {
  const customers = Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM customers')).rows[0]!.n);
  const segments = Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM segments WHERE status <> 'ARCHIVED'`)).rows[0]!.n);
  const memberships = await tableStorage(pool, 'segment_memberships');
  const events = await tableStorage(pool, 'segment_membership_events');

  // SCAN's order is the hash table's, unrelated to customer ids: a fair sample, an equal share
  // from each master of a cluster (customers spread evenly over the slots).
  const masters = await masterNodes(redis);
  const share = Math.ceil(sampleKeys / masters.length);
  const sampled = new Set<string>();
  let bytes = 0;
  let held = 0;
  for (const node of masters) {
    const fromNode = new Set<string>();
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', keys.customerPattern, 'COUNT', 1000);
      cursor = next;
      for (const key of found) if (fromNode.size < share) fromNode.add(key);
    } while (cursor !== '0' && fromNode.size < share);
    const pipeline = node.pipeline();
    for (const key of fromNode) pipeline.memory('USAGE', key, 'SAMPLES', '0').hlen(key);
    const replies = (await pipeline.exec()) ?? [];
    for (let i = 0; i + 1 < replies.length; i += 2) {
      bytes += Number(replies[i]![1] ?? 0);
      held += Number(replies[i + 1]![1] ?? 0);
    }
    for (const key of fromNode) sampled.add(key);
  }
  const listpackMaxEntries = await masters[0]!
    .config('GET', 'hash-max-listpack-entries')
    .then((reply) => Number((reply as string[])[1]))
    .catch(() => null);
  const bytesPerMembership = held === 0 ? null : Math.round(bytes / held);

  const rate = customers === 0 || segments === 0 ? null : memberships.rows / (customers * segments);
  const projected = rate === null ? null : Math.round(rate * TARGET.customers * TARGET.segments);
  const eventsPerMembership = memberships.rows === 0 ? null : events.rows / memberships.rows;
  return {
    customers,
    segments,
    memberships,
    events,
    membershipsPerCustomerPerSegment: rate === null ? null : Number(rate.toPrecision(4)),
    redis: { keysSampled: sampled.size, membershipsSampled: held, bytesPerMembership, listpackMaxEntries },
    projection: {
      ...TARGET,
      memberships: projected,
      membershipsPerCustomer: rate === null ? null : Math.round(rate * TARGET.segments),
      postgresMembershipsBytes: projected === null || memberships.bytesPerRow === null ? null : projected * memberships.bytesPerRow,
      postgresEventsBytes:
        projected === null || events.bytesPerRow === null || eventsPerMembership === null ? null : Math.round(projected * eventsPerMembership * events.bytesPerRow),
      redisBytes: projected === null || bytesPerMembership === null ? null : projected * bytesPerMembership,
    },
  };
}

/** Bytes as GB (10^9), or TB from 1,000 GB. */
export function gigabytes(bytes: number | null): string {
  if (bytes === null) return 'n/a';
  const gb = bytes / 1e9;
  return gb >= 1000 ? `${(gb / 1000).toFixed(1)} TB` : `${gb.toFixed(gb >= 10 ? 0 : 1)} GB`;
}
