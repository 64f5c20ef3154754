import type { Queryable } from './queryable.js';

/** Ages in seconds of the oldest work waiting in each outbox; 0 when an outbox is empty. */
export interface PipelineBacklogAges {
  /** customer_change_outbox: changes not yet evaluated. */
  unprocessedChange: number;
  /** membership_event_outbox: events not yet published to Redis. */
  unpublishedEvent: number;
  /** segment_outbox: admin changes' side effects not yet carried out. */
  segmentOutboxEffect: number;
}

/** How far behind the pipeline's outboxes are (docs/operations.md "Metrics"). Each min() reads one index end. */
export class PipelineHealthRepository {
  constructor(private readonly db: Queryable) {}

  async backlogAges(): Promise<PipelineBacklogAges> {
    const { rows } = await this.db.query<PipelineBacklogAges>(
      `SELECT COALESCE(extract(epoch FROM now() - (SELECT min(recorded_at) FROM customer_change_outbox)), 0)::float8 AS "unprocessedChange",
              COALESCE(extract(epoch FROM now() - (SELECT e.at FROM segment_membership_events e
                 WHERE e.id = (SELECT min(event_id) FROM membership_event_outbox))), 0)::float8 AS "unpublishedEvent",
              COALESCE(extract(epoch FROM now() - (SELECT min(recorded_at) FROM segment_outbox)), 0)::float8 AS "segmentOutboxEffect"`,
    );
    const ages = rows[0]!;
    // now() is the transaction's start: a row recorded a moment later would read as a small negative age.
    return {
      unprocessedChange: Math.max(0, ages.unprocessedChange),
      unpublishedEvent: Math.max(0, ages.unpublishedEvent),
      segmentOutboxEffect: Math.max(0, ages.segmentOutboxEffect),
    };
  }
}
