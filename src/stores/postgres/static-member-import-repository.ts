import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { MembershipCause } from '../../domain/membership-cause.js';
import type { Queryable } from './queryable.js';

/** What a replacement of a STATIC segment's members changed. */
export interface MemberReplacement {
  /** Customers that were not members and are now. */
  entered: number;
  /** Members that are no longer. */
  left: number;
}

const BACKSLASH = 0x5c;
// Above this many staged ids the planner gets statistics of the staging table
// (a temporary table is never analyzed by autovacuum): the diff then hashes
// rather than probing the membership index a million times.
const ANALYZE_STAGED_FROM = 10_000;
// Memberships moved by one import after which the planner statistics of the
// tables it wrote are refreshed (this machine runs without autovacuum, and
// autovacuum would come a minute later at best), as recomputes do: the event
// path's plans over segment_memberships, and the publisher's batch reads,
// depend on them.
const ANALYZE_AFTER_CHANGES = 100_000;
// Memory for the diff's hash joins and DISTINCT, for this transaction only:
// a million ids fit without spilling to disk.
const IMPORT_WORK_MEM = '64MB';

/**
 * Replaces a STATIC segment's members with a list, inside Postgres: the list
 * is streamed with COPY into a temporary table of the caller's transaction
 * (`stage`), then compared with the memberships in two set-based statements
 * (`replaceWithStaged`). Nothing proportional to the list is held in Node.
 */
export class StaticMemberImportRepository {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * Copies customer ids, one per line (LF-terminated, validated by the
   * caller), into `member_import`, a temporary table dropped at the end of
   * the transaction. If `lines` fails, the COPY is aborted with its error and
   * the transaction can only roll back.
   * @returns how many lines were copied (duplicates included)
   */
  async stage(db: Queryable, lines: AsyncIterable<Buffer>): Promise<number> {
    const client = inTransaction(db);
    await client.query(`SET LOCAL work_mem = '${IMPORT_WORK_MEM}'`);
    await client.query('CREATE TEMP TABLE member_import (customer_id text NOT NULL) ON COMMIT DROP');
    const copy = client.query(copyFrom('COPY member_import (customer_id) FROM STDIN'));
    await pipeline(lines, escapeForCopy, copy);
    if (copy.rowCount >= ANALYZE_STAGED_FROM) await client.query('ANALYZE member_import');
    return copy.rowCount;
  }

  /**
   * Makes the staged ids (duplicates once) the members of `segmentId`, and
   * records an event for each customer that entered or left, nothing for the
   * others: members not staged leave, staged ids already members are taken
   * out of the staging table, and what remains enters. Call after `stage`, in
   * the same transaction, holding the segment's row lock.
   */
  async replaceWithStaged(
    db: Queryable,
    segmentId: number,
    details: { at: Date; cause: MembershipCause; segmentVersion: number },
  ): Promise<MemberReplacement> {
    const client = inTransaction(db);
    const params = [segmentId, details.at, details.cause, details.segmentVersion];
    const left = await client.query(
      `WITH gone AS (
         DELETE FROM segment_memberships m
          WHERE m.segment_id = $1 AND NOT EXISTS (SELECT 1 FROM member_import i WHERE i.customer_id = m.customer_id)
         RETURNING m.customer_id)
       INSERT INTO segment_membership_events (segment_id, customer_id, change, at, cause, segment_version)
       SELECT $1, customer_id, 'LEFT', $2, $3, $4 FROM gone`,
      params,
    );
    // What remains staged enters. The INSERT reads only the staging table: one that also read
    // segment_memberships would scan the rows it inserts, planned for a table it found empty.
    await client.query(
      `DELETE FROM member_import i USING segment_memberships m WHERE m.segment_id = $1 AND m.customer_id = i.customer_id`,
      [segmentId],
    );
    // In customer order: the index entries go in page after page rather than all over the indexes
    // (docs/benchmarks.md "Member import").
    const entered = await client.query(
      `WITH added AS (
         INSERT INTO segment_memberships (segment_id, customer_id, since)
         SELECT $1::int, customer_id, $2::timestamptz FROM member_import GROUP BY customer_id ORDER BY customer_id
         RETURNING customer_id)
       INSERT INTO segment_membership_events (segment_id, customer_id, change, at, cause, segment_version)
       SELECT $1, customer_id, 'ENTERED', $2, $3, $4 FROM added`,
      params,
    );
    return { entered: entered.rowCount ?? 0, left: left.rowCount ?? 0 };
  }

  /**
   * Refreshes the planner statistics of memberships and their events after
   * an import that moved `changes` customers, if that is many. Call after
   * the import has committed, before asking for its publication.
   */
  async refreshStatistics(changes: number): Promise<void> {
    if (changes < ANALYZE_AFTER_CHANGES) return;
    await this.pool.query('ANALYZE segment_memberships, segment_membership_events');
  }
}

/** COPY needs one connection in a transaction, not a pool that may hand out another per statement. */
function inTransaction(db: Queryable): pg.PoolClient {
  if (db instanceof pg.Pool || !('release' in db)) throw new Error('the member import runs on a client inside a transaction');
  return db;
}

/**
 * COPY's text format reads a backslash as an escape (and `\.` as the end of
 * the data): each is doubled, so every id arrives as sent. Blocks without one,
 * nearly all, pass unchanged.
 */
async function* escapeForCopy(blocks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  for await (const block of blocks) {
    if (block.indexOf(BACKSLASH) === -1) {
      yield block;
      continue;
    }
    let backslashes = 0;
    for (let i = block.indexOf(BACKSLASH); i !== -1; i = block.indexOf(BACKSLASH, i + 1)) backslashes++;
    const out = Buffer.allocUnsafe(block.length + backslashes);
    let o = 0;
    for (const byte of block) {
      out[o++] = byte;
      if (byte === BACKSLASH) out[o++] = BACKSLASH;
    }
    yield out;
  }
}
