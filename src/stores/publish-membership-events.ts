import type pg from 'pg';
import { REFLECTED_UP_TO_SQL } from './postgres/pipeline-watermark.js';
import { withServingStoreLock } from './postgres/serving-store-lock.js';
import type { MembershipEvent, MembershipEventStream } from './redis/membership-event-stream.js';
import type { MembershipServingStore } from './redis/serving-store.js';

export interface PublisherDependencies {
  pool: pg.Pool;
  servingStore: Pick<MembershipServingStore, 'applyChanges'>;
  stream: MembershipEventStream;
}

// Events per transaction: one Postgres read, then one Redis pipeline for the
// serving keys, one for the stream and the stamp, all three at once.
const BATCH = 10_000;

/**
 * Publishes unpublished membership events (the outbox in
 * segment_membership_events) in id order: applies each change to the
 * customer's serving key (HSET on ENTERED, HDEL on LEFT), appends the events
 * to the stream, and stamps them published, a batch per transaction, until
 * none is left. Changes of one membership are serialised by its row in
 * segment_memberships, so their ids follow their commit order and replaying
 * in id order ends in the state Postgres holds. The serving-store lock keeps
 * a single publisher (the full rebuild takes it too), so rows need no lock. The stream is
 * at-least-once: after a crash between the stream append and the stamp, a
 * batch is appended again, with the same event ids.
 *
 * Each batch first reads how far Postgres reflects committed changes
 * (`REFLECTED_UP_TO_SQL`), then the events: every event of a change committed
 * before that time is visible to the later read, so once a read comes back
 * short of a full batch and is applied, Redis reflects them all and the
 * freshness watermark moves to that time, in the same pipeline.
 *
 * @returns how many events were published
 */
export async function publishMembershipEvents(deps: PublisherDependencies, lockWaitMs = 10_000): Promise<number> {
  return withServingStoreLock(deps.pool, lockWaitMs, async (client) => {
    let published = 0;
    for (;;) {
      await client.query('BEGIN');
      try {
        const { rows: marks } = await client.query<{ at: Date }>(`SELECT ${REFLECTED_UP_TO_SQL} AS at`);
        const { rows } = await client.query<MembershipEvent>(
          // Ordered by the bigint id, not by its text (where "997" sorts after "2427").
          `SELECT e.id::text AS id, e.segment_id AS "segmentId", e.customer_id AS "customerId", e.change, e.at, e.cause,
                  e.segment_version AS "segmentVersion"
             FROM segment_membership_events e WHERE e.published_at IS NULL ORDER BY e.id LIMIT $1`,
          [BATCH],
        );
        const last = rows.length < BATCH;
        const upToDateAt = last ? marks[0]!.at : undefined;
        if (rows.length === 0) {
          await deps.servingStore.applyChanges([], upToDateAt);
          await client.query('COMMIT');
          return published;
        }
        // The stamp is written while Redis applies the batch, and committed only once Redis has it.
        await Promise.all([
          deps.servingStore.applyChanges(rows, upToDateAt),
          deps.stream.append(rows),
          client.query('UPDATE segment_membership_events SET published_at = now() WHERE id = ANY($1::bigint[])', [rows.map((e) => e.id)]),
        ]);
        await client.query('COMMIT');
        published += rows.length;
        if (last) return published;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    }
  });
}
