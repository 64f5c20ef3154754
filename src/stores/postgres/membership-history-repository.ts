import type { Queryable } from './queryable.js';
import type { MembershipCause } from '../../domain/membership-cause.js';
import { SEGMENT_SIZE_SQL } from './segment-repository.js';

/** One enter or leave as recorded in `segment_membership_events`. */
export interface MembershipChangeRecord {
  /** The event's id (a bigint, as text). */
  id: string;
  segmentId: number;
  customerId: string;
  change: 'ENTERED' | 'LEFT';
  at: Date;
  /** `at` in microseconds since the epoch, as text: a Date keeps milliseconds only, and a cursor must be exact. */
  atMicros: string;
  cause: MembershipCause;
  segmentVersion: number;
}

/** Where a page of history continues: just after (older than) this event. */
export interface MembershipChangePosition {
  atMicros: string;
  id: string;
}

/** A page of history, newest first, and whether older changes follow it. */
export interface MembershipChangePage {
  rows: MembershipChangeRecord[];
  hasNextPage: boolean;
}

/** One customer's changes, in every segment or in one. */
export interface CustomerHistoryRequest {
  customerId: string;
  segmentId?: number;
  first: number;
  after?: MembershipChangePosition;
}

/** One segment's changes, all of them or those at or after `since`. */
export interface SegmentChangesRequest {
  segmentId: number;
  since?: Date;
  first: number;
  after?: MembershipChangePosition;
}

/** A segment's size at the end of one UTC day. */
export interface SegmentSizeOnDayRecord {
  /** Midnight UTC at the start of the day. */
  day: Date;
  size: number;
}

const COLUMNS = `e.id::text AS id, e.segment_id AS "segmentId", e.customer_id AS "customerId", e.change, e.at,
  (extract(epoch FROM e.at) * 1000000)::bigint::text AS "atMicros", e.cause, e.segment_version AS "segmentVersion"`;

// Each request of a batch is one row of `r`; its page is one backward range
// scan of an index on (…, at, id), bounded by the cursor (a row comparison,
// which btree indexes take as a range condition) and by `since`. Cursors
// default to the far end rather than to NULL so that no OR hides the range
// from the planner. Pages read one row more than asked to tell whether
// another page follows.
const AFTER = `(e.at, e.id) < (coalesce('epoch'::timestamptz + (r.after_us || ' microseconds')::interval, 'infinity'),
                               coalesce(r.after_id, 9223372036854775807))`;

// Ids are read as text (bigints), so results are sorted by the number.
const CUSTOMER_HISTORY_SQL = `
  WITH r AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb) AS r (i int, customer_id text, segment_id int, after_us bigint, after_id bigint, lim int)
  )
  SELECT * FROM (
  SELECT r.i, p.* FROM r CROSS JOIN LATERAL (
    SELECT ${COLUMNS} FROM segment_membership_events e
     WHERE e.customer_id = r.customer_id AND ${AFTER}
     ORDER BY e.at DESC, e.id DESC LIMIT r.lim) p
   WHERE r.segment_id IS NULL
  UNION ALL
  SELECT r.i, p.* FROM r CROSS JOIN LATERAL (
    SELECT ${COLUMNS} FROM segment_membership_events e
     WHERE e.segment_id = r.segment_id AND e.customer_id = r.customer_id AND ${AFTER}
     ORDER BY e.at DESC, e.id DESC LIMIT r.lim) p
   WHERE r.segment_id IS NOT NULL) pages
  ORDER BY i, at DESC, id::bigint DESC`;

const SEGMENT_CHANGES_SQL = `
  SELECT r.i, p.*
    FROM jsonb_to_recordset($1::jsonb) AS r (i int, segment_id int, since timestamptz, after_us bigint, after_id bigint, lim int)
   CROSS JOIN LATERAL (
    SELECT ${COLUMNS} FROM segment_membership_events e
     WHERE e.segment_id = r.segment_id AND e.at >= coalesce(r.since, '-infinity') AND ${AFTER}
     ORDER BY e.at DESC, e.id DESC LIMIT r.lim) p
   ORDER BY r.i, p.at DESC, p.id::bigint DESC`;

/**
 * Reads membership history (`segment_membership_events`): per customer, per
 * segment, and a segment's size day by day. Pages are newest first, by the
 * time of the change and then the event id (keyset on both, so pages stay
 * stable while new changes are recorded). A batch of requests is one query.
 */
export class MembershipHistoryRepository {
  constructor(private readonly pool: Queryable) {}

  /** A page of history for each request, in the order of `requests`. */
  async customerHistory(requests: readonly CustomerHistoryRequest[]): Promise<MembershipChangePage[]> {
    if (requests.length === 0) return [];
    const rows = requests.map((q, i) => ({
      i,
      customer_id: q.customerId,
      segment_id: q.segmentId ?? null,
      ...position(q.after),
      lim: q.first + 1,
    }));
    return this.pages(CUSTOMER_HISTORY_SQL, rows, requests);
  }

  /** A page of changes for each request, in the order of `requests`. */
  async segmentChanges(requests: readonly SegmentChangesRequest[]): Promise<MembershipChangePage[]> {
    if (requests.length === 0) return [];
    const rows = requests.map((q, i) => ({
      i,
      segment_id: q.segmentId,
      since: q.since?.toISOString() ?? null,
      ...position(q.after),
      lim: q.first + 1,
    }));
    return this.pages(SEGMENT_CHANGES_SQL, rows, requests);
  }

  /**
   * The segment's size at the end of each of the last `days` UTC days, oldest
   * first, today last (its size now). Computed backwards from the current size
   * and the net of the enters and leaves recorded after each day, in one
   * query over one range of the segment's (segment_id, at) index. Days the
   * segment did not exist in yet, and days that ended before retention
   * dropped events (`membership_event_retention.pruned_before`), whose sizes
   * would be wrong, are left out. Empty for an unknown segment.
   */
  async sizeHistory(segmentId: number, days: number): Promise<SegmentSizeOnDayRecord[]> {
    const { rows } = await this.pool.query<SegmentSizeOnDayRecord>(
      `WITH s AS (SELECT ${SEGMENT_SIZE_SQL} AS size, created_at FROM segments WHERE id = $1),
            b AS (SELECT (statement_timestamp() AT TIME ZONE 'UTC')::date AS today),
            net AS MATERIALIZED (
              SELECT (e.at AT TIME ZONE 'UTC')::date AS day, sum(CASE e.change WHEN 'ENTERED' THEN 1 ELSE -1 END) AS net
                FROM segment_membership_events e, b
               WHERE e.segment_id = $1 AND e.at >= (b.today - $2::int + 2)::timestamp AT TIME ZONE 'UTC'
               GROUP BY 1)
       SELECT d.day AT TIME ZONE 'UTC' AS day,
              -- The size now, less what every later day (and any change stamped after today) added.
              (s.size - coalesce((SELECT sum(net) FROM net, b WHERE net.day > b.today), 0)
                      - coalesce(sum(n.net) OVER (ORDER BY d.day DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0))::int AS size
         FROM s, b, generate_series((b.today - $2::int + 1)::timestamp, b.today::timestamp, interval '1 day') AS d (day)
         LEFT JOIN net n ON n.day = d.day::date
        WHERE (d.day + interval '1 day') AT TIME ZONE 'UTC' > s.created_at
          AND (d.day + interval '1 day') AT TIME ZONE 'UTC' >= coalesce((SELECT pruned_before FROM membership_event_retention), '-infinity')
        ORDER BY d.day`,
      [segmentId, days],
    );
    return rows;
  }

  private async pages(sql: string, rows: object[], requests: ReadonlyArray<{ first: number }>): Promise<MembershipChangePage[]> {
    const { rows: found } = await this.pool.query<MembershipChangeRecord & { i: number }>(sql, [JSON.stringify(rows)]);
    const pages = requests.map((): MembershipChangePage => ({ rows: [], hasNextPage: false }));
    for (const { i, ...record } of found) {
      const page = pages[i]!;
      if (page.rows.length < requests[i]!.first) page.rows.push(record);
      else page.hasNextPage = true;
    }
    return pages;
  }
}

function position(after: MembershipChangePosition | undefined): { after_us: string | null; after_id: string | null } {
  return { after_us: after?.atMicros ?? null, after_id: after?.id ?? null };
}
