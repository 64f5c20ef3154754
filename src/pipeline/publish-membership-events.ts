import type pg from 'pg';
import { REFLECTED_UP_TO_SQL } from '../stores/postgres/pipeline-watermark.js';
import { withServingStoreLock } from '../stores/postgres/serving-store-lock.js';
import type { MembershipEvent, MembershipEventStream } from '../stores/redis/membership-event-stream.js';
import type { MembershipServingStore, ReplacingSegments } from '../stores/redis/serving-store.js';

export interface PublisherDependencies {
  pool: pg.Pool;
  servingStore: Pick<MembershipServingStore, 'applyChanges'>;
  stream: MembershipEventStream;
  /** Told of every batch once it is committed and served (metrics). */
  onPublished?: (events: readonly MembershipEvent[]) => void;
}

// Events per transaction: one Postgres read, then one Redis pipeline for the
// serving keys, one for the stream and the outbox deletion, all three at once.
const BATCH = 10_000;

/**
 * Publishes unpublished membership events (the ids in
 * membership_event_outbox, filled by a trigger on segment_membership_events)
 * in id order: applies each change to the customer's serving key (HSET on
 * ENTERED, HDEL on LEFT), appends the events to the stream, and deletes their
 * ids from the outbox, a batch per transaction, until none is left. Changes of one membership are serialised by its row in
 * segment_memberships, so their ids follow their commit order; Redis keeps the
 * id that set each field and takes only newer ones, so replaying in any order
 * ends in the state Postgres holds. The serving-store lock keeps
 * a single publisher (the full rebuild takes it too), so rows need no lock. The stream is
 * at-least-once: after a crash between the stream append and the commit, a
 * batch is appended again, with the same event ids.
 *
 * Each batch first reads how far Postgres reflects committed changes
 * (`REFLECTED_UP_TO_SQL`), then the events: every event of a change committed
 * before that time is visible to the later read, so once a read comes back
 * short of a full batch and is applied, Redis reflects them all and the
 * freshness watermark moves to that time, in the same pipeline.
 *
 * An import replaces a STATIC segment's members in one transaction, but its
 * events reach Redis over many batches. So that no reader sees some customers
 * in the old set and others in the new one, a batch with import events marks
 * their segments as being replaced before applying them (reads take those
 * segments from Postgres, where the new set is whole), and unmarks a segment
 * in the batch that applies its last pending import event. A batch that
 * empties the outbox clears every mark, so none can outlive its events (an
 * erasure may delete the last one).
 *
 * @returns how many events were published
 */
export async function publishMembershipEvents(deps: PublisherDependencies, lockWaitMs = 10_000, batchSize = BATCH): Promise<number> {
  return withServingStoreLock(deps.pool, lockWaitMs, async (client) => {
    let published = 0;
    for (;;) {
      await client.query('BEGIN');
      try {
        const { rows: marks } = await client.query<{ at: Date }>(`SELECT ${REFLECTED_UP_TO_SQL} AS at`);
        // Ordered by the bigint id, not by its text (where "997" sorts after "2427"). An id whose event
        // is gone (erased, or its segment deleted) is dropped from the outbox with the others. The
        // event is looked up by id for each outbox row (LATERAL ... OFFSET 0 keeps it a nested loop):
        // a merge join, which the planner picked on stale statistics, walked the events' key from the
        // first event ever on every batch, 0.4 s a batch halfway through a million-event import.
        const { rows: claimed } = await client.query<MembershipEvent & { claimedId: string; id: string | null }>(
          `SELECT o.event_id::text AS "claimedId", e.id::text AS id, e.segment_id AS "segmentId", e.customer_id AS "customerId",
                  e.change, e.at, e.cause, e.segment_version AS "segmentVersion"
             FROM (SELECT event_id FROM membership_event_outbox ORDER BY event_id LIMIT $1) o
             LEFT JOIN LATERAL (SELECT * FROM segment_membership_events e WHERE e.id = o.event_id OFFSET 0) e ON true
            ORDER BY o.event_id`,
          [batchSize],
        );
        const rows: MembershipEvent[] = claimed.flatMap(({ claimedId: _, ...event }) => (event.id === null ? [] : [event]));
        const last = claimed.length < batchSize;
        const upToDateAt = last ? marks[0]!.at : undefined;
        if (claimed.length === 0) {
          await deps.servingStore.applyChanges([], upToDateAt, { begin: [], end: 'all' });
          await client.query('COMMIT');
          return published;
        }
        const replacing = await replacingSegments(client, rows, last ? undefined : claimed.at(-1)!.claimedId);
        // The outbox rows go while Redis applies the batch, and the deletion commits only once Redis has it.
        await Promise.all([
          deps.servingStore.applyChanges(rows, upToDateAt, replacing),
          deps.stream.append(rows),
          client.query('DELETE FROM membership_event_outbox WHERE event_id = ANY($1::bigint[])', [claimed.map((c) => c.claimedId)]),
        ]);
        await client.query('COMMIT');
        deps.onPublished?.(rows);
        published += rows.length;
        if (last) return published;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    }
  });
}

/**
 * The segments this batch begins replacing (those of its import events) and
 * those it ends: all of them when it empties the outbox (`after` undefined),
 * else the ones with no import event left after the batch's last claimed id.
 */
async function replacingSegments(client: pg.PoolClient, rows: readonly MembershipEvent[], after: string | undefined): Promise<ReplacingSegments> {
  const begin = [...new Set(rows.filter((e) => e.cause === 'import').map((e) => e.segmentId))];
  if (after === undefined) return { begin, end: 'all' };
  if (begin.length === 0) return { begin, end: [] };
  // The next import event of each segment, walking the outbox's key and looking each event up by
  // id (a nested loop, as in the batch read): an import still being published answers at its next
  // row, in under a millisecond. A plain EXISTS hashed the whole outbox (220 ms a batch at a
  // million pending events), and a join the planner was free to choose became a merge join from
  // the first event ever (850 ms). Only the batch after an import's last event walks the rest of
  // the outbox (about 1 s per million events pending then).
  const { rows: ended } = await client.query<{ segmentId: number }>(
    `SELECT s AS "segmentId" FROM unnest($1::int[]) s
      WHERE NOT EXISTS (SELECT FROM (SELECT FROM membership_event_outbox o
                                       CROSS JOIN LATERAL (SELECT segment_id, cause FROM segment_membership_events e WHERE e.id = o.event_id OFFSET 0) e
                                      WHERE o.event_id > $2 AND e.segment_id = s AND e.cause = 'import'
                                      ORDER BY o.event_id LIMIT 1) next)`,
    [begin, after],
  );
  return { begin, end: ended.map((r) => r.segmentId) };
}
