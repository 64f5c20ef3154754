import type pg from 'pg';
import { DAY_MS } from '../../rules/rule.js';
import type { TimeWindow } from '../../rules/time-windows.js';
import { inTransaction } from './queryable.js';
import { lockSegmentRows } from './segment-repository.js';

export interface TimeDependentSegment {
  id: number;
  windows: readonly TimeWindow[];
}

export interface TimeMaintenanceOutcome {
  /** Segments whose watermark moved. */
  segments: number;
  /** Customers queued for evaluation: those with an order that crossed a window edge. */
  customers: number;
  asOf: Date;
}

/**
 * Time passing, incrementally: relative windows change a customer's
 * membership only when one of their orders crosses a window edge, so each
 * run queues for evaluation exactly the customers with an order created in
 * [watermark - days, now - days) for some window of some segment, and moves
 * the segments' watermarks to now. Windows with the same bounds and stores
 * share their scan of the orders' time index.
 */
export class TimeMaintenanceRepository {
  constructor(private readonly pool: pg.Pool) {}

  async queueCrossings(segments: readonly TimeDependentSegment[]): Promise<TimeMaintenanceOutcome> {
    return inTransaction(this.pool, async (client) => {
      const asOf = (await client.query<{ now: Date }>('SELECT clock_timestamp() AS now')).rows[0]!.now;
      if (segments.length === 0) return { segments: 0, customers: 0, asOf };
      // Watermarks are set by each full recompute; a segment never computed has nothing to maintain yet.
      const { rows: marks } = await client.query<{ id: number; since: Date }>(
        `SELECT id, time_evaluated_at AS since FROM segments
          WHERE id = ANY($1::int[]) AND kind = 'RULE' AND status = 'ACTIVE' AND quarantined_at IS NULL
            AND time_evaluated_at IS NOT NULL AND time_evaluated_at < $2`,
        [segments.map((s) => s.id), asOf],
      );
      if (marks.length === 0) return { segments: 0, customers: 0, asOf };
      const windowsOf = new Map(segments.map((s) => [s.id, s.windows]));
      const ranges = new Map<string, { lo: string; hi: string; stores: string[] | null; segments: number[] }>();
      for (const { id, since } of marks) {
        for (const window of windowsOf.get(id) ?? []) {
          const lo = new Date(since.getTime() - window.days * DAY_MS).toISOString();
          const hi = new Date(asOf.getTime() - window.days * DAY_MS).toISOString();
          const key = JSON.stringify([lo, hi, window.storeIds ?? null]);
          const range = ranges.get(key) ?? { lo, hi, stores: window.storeIds ?? null, segments: [] };
          range.segments.push(id);
          ranges.set(key, range);
        }
      }
      const { rowCount } = await client.query(
        `INSERT INTO customer_change_outbox (customer_id, segment_ids)
         SELECT o.customer_id, array_agg(DISTINCT s)
           -- One scan of the time index per distinct interval (windows of the same length share it, whatever
           -- their stores: at 10,000 segments a few hundred scans, not one per window), then each window's stores.
           FROM (SELECT DISTINCT lo, hi FROM jsonb_to_recordset($1::jsonb) AS r (lo timestamptz, hi timestamptz)) r
           JOIN LATERAL (SELECT customer_id, store_id FROM orders o WHERE o.created_at >= r.lo AND o.created_at < r.hi) o ON true
           JOIN jsonb_to_recordset($1::jsonb) AS w (lo timestamptz, hi timestamptz, stores text[], segments int[])
             ON w.lo = r.lo AND w.hi = r.hi AND (w.stores IS NULL OR o.store_id = ANY(w.stores))
           CROSS JOIN LATERAL unnest(w.segments) AS s
          GROUP BY o.customer_id`,
        [JSON.stringify([...ranges.values()])],
      );
      // Rows locked only now, for a moment. A recompute that moved a watermark meanwhile computed
      // before `asOf`: the customers it could miss were queued above or evaluated after it (and kept by it).
      await lockSegmentRows(client, marks.map((m) => m.id));
      await client.query('UPDATE segments SET time_evaluated_at = $2 WHERE id = ANY($1::int[])', [marks.map((m) => m.id), asOf]);
      return { segments: marks.length, customers: rowCount ?? 0, asOf };
    });
  }

  /**
   * Drops journal entries older than `olderThanMs` that no computing
   * recompute can still need (those older than the oldest `computing_since`
   * of a live RULE segment: only those are ever applied, and a mark left on
   * another one must not keep the journal forever).
   */
  async purgeEvaluationJournal(olderThanMs: number): Promise<number> {
    const { rowCount } = await this.pool.query(
      `DELETE FROM segment_evaluations
        WHERE evaluated_at < now() - make_interval(secs => $1::double precision / 1000)
          AND evaluated_at < coalesce((SELECT min(computing_since) FROM segments WHERE kind = 'RULE' AND status = 'ACTIVE'), 'infinity')`,
      [olderThanMs],
    );
    return rowCount ?? 0;
  }
}
