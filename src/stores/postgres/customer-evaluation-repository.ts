import type pg from 'pg';
import type { CustomerInput, OrderInput, ReadScope } from '../../rules/compiled-rules.js';
import type { Rule } from '../../rules/rule.js';
import { ADVISORY_LOCKS } from './advisory-locks.js';
import { inClientTransaction, type Queryable } from './queryable.js';

/** A live RULE segment as the event path evaluates it. */
export interface EvaluatedSegment {
  id: number;
  version: number;
  rule: Rule;
  /** A full recompute is computing: evaluations of this segment are journaled for it. */
  computing: boolean;
}

/** Why a membership changed, as recorded on its event. */
export type EvaluationCause = 'event' | 'schedule';

/** What one batch reads: its customers' rows, and what the rules evaluated read of them (ReadScope). */
export interface BatchReadRequest extends ReadScope {
  customerIds: readonly string[];
}

export interface BatchFacts {
  /** Customers found; one missing from `customers` is a member of nothing. */
  customers: Map<string, CustomerInput>;
  orders: Map<string, OrderInput[]>;
  /** Per customer, the segments (of those asked for) they are a member of. */
  memberships: Map<string, Set<number>>;
  /** Orders read, for the cost report. */
  orderRows: number;
}

/** A membership that changes: the customer enters (`member`) or leaves the segment. */
export interface MembershipFlip {
  segmentId: number;
  customerId: string;
  member: boolean;
  cause: EvaluationCause;
}

export interface FlipBatch {
  asOf: Date;
  flips: readonly MembershipFlip[];
  /** Version of each segment evaluated. */
  versions: ReadonlyMap<number, number>;
  /** Per segment being recomputed, every customer evaluated for it (flipped or not). */
  journal: ReadonlyMap<number, readonly string[]>;
}

export interface FlipOutcome {
  entered: number;
  left: number;
}

const { EVALUATION: EVALUATION_LOCK, PARTITION_CLASS: PARTITION_LOCK_CLASS } = ADVISORY_LOCKS;

/** Partitions of the change outbox (migration 0012: `hashtext(customer_id) & 63`). */
export const OUTBOX_PARTITIONS = 64;

/**
 * The event path's SQL: one statement reads a batch's facts, one writes its
 * flips (memberships, events, journal, size deltas). The rules themselves
 * are evaluated by the caller (src/rules/compiled-rules.ts).
 */
export class CustomerEvaluationRepository {
  constructor(private readonly pool: pg.Pool) {}

  /** A dedicated connection for one evaluator process: its partition locks live on it. */
  connect(): Promise<pg.PoolClient> {
    return this.pool.connect();
  }

  /**
   * Announces `memberId` as a live evaluator and returns how many are live
   * (seen within `liveMs`, itself included). Members not seen for long are
   * dropped.
   */
  async heartbeat(db: Queryable, memberId: string, liveMs: number): Promise<number> {
    const { rows } = await db.query<{ live: number }>(
      `WITH seen AS (
         INSERT INTO evaluator_members (member_id, seen_at) VALUES ($1, clock_timestamp())
         ON CONFLICT (member_id) DO UPDATE SET seen_at = excluded.seen_at
       ), gone AS (
         DELETE FROM evaluator_members WHERE seen_at < clock_timestamp() - make_interval(secs => $2::double precision * 10 / 1000)
       )
       SELECT 1 + count(*)::int AS live FROM evaluator_members
        WHERE member_id <> $1 AND seen_at > clock_timestamp() - make_interval(secs => $2::double precision / 1000)`,
      [memberId, liveMs],
    );
    return rows[0]!.live;
  }

  /** Removes a member that stops. */
  async leave(db: Queryable, memberId: string): Promise<void> {
    await db.query('DELETE FROM evaluator_members WHERE member_id = $1', [memberId]);
  }

  /**
   * Takes up to `count` partitions no session holds, other than `held`, on
   * this session; returns those taken. Partitions are tried in an order of the
   * caller's, so that several processes starting together do not all try the
   * same first.
   */
  async lockPartitions(client: pg.PoolClient, candidates: readonly number[], count: number): Promise<number[]> {
    if (count <= 0 || candidates.length === 0) return [];
    // The WHERE clause runs for one candidate after another until LIMIT is met: no lock is taken beyond it.
    const { rows } = await client.query<{ p: number }>(
      `SELECT p FROM unnest($1::int[]) WITH ORDINALITY AS c (p, n)
        WHERE pg_try_advisory_lock($2, p) ORDER BY n LIMIT $3`,
      [candidates, PARTITION_LOCK_CLASS, count],
    );
    return rows.map((r) => r.p);
  }

  async unlockPartitions(client: pg.PoolClient, partitions: readonly number[]): Promise<void> {
    if (partitions.length === 0) return;
    await client.query('SELECT pg_advisory_unlock($2, p) FROM unnest($1::int[]) AS p', [partitions, PARTITION_LOCK_CLASS]);
  }

  /** Runs `work` in one transaction on `client` holding the evaluation lock shared. */
  async transaction<T>(client: pg.PoolClient, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    // One round trip for all three (no parameters: the simple protocol takes several statements).
    // No JIT: the batch's statements are short, but their estimates over tens of millions of
    // memberships pass its threshold, and compiling would cost more than it saves.
    return inClientTransaction(client, work, `BEGIN; SET LOCAL jit = off; SELECT pg_advisory_xact_lock_shared(${EVALUATION_LOCK})`);
  }

  /**
   * The current version of each of these segments that is live and not
   * quarantined; `rules` caches rule bodies by id and version, so a batch
   * reads only versions it has not seen.
   */
  async liveSegments(db: Queryable, ids: readonly number[], rules: Map<string, Rule>): Promise<EvaluatedSegment[]> {
    if (ids.length === 0) return [];
    const { rows } = await db.query<{ id: number; version: number; computing: boolean }>(
      `SELECT id, version, computing_since IS NOT NULL AS computing FROM segments
        WHERE id = ANY($1::int[]) AND kind = 'RULE' AND status = 'ACTIVE' AND quarantined_at IS NULL ORDER BY id`,
      [ids],
    );
    const missing = rows.filter((r) => !rules.has(`${r.id}:${r.version}`));
    if (missing.length > 0) {
      const { rows: bodies } = await db.query<{ id: number; version: number; rule: Rule }>(
        `SELECT segment_id AS id, version, rule FROM segment_versions
          WHERE (segment_id, version) IN (SELECT * FROM unnest($1::int[], $2::int[]))`,
        [missing.map((r) => r.id), missing.map((r) => r.version)],
      );
      for (const b of bodies) rules.set(`${b.id}:${b.version}`, b.rule);
    }
    return rows.flatMap((r) => {
      const rule = rules.get(`${r.id}:${r.version}`);
      return rule ? [{ ...r, rule }] : [];
    });
  }

  /**
   * Reads a batch's facts in one statement: the customers' rows (attributes
   * only for the keys asked for), the orders its rules can read (through the
   * customer index, narrowed to the stores and the window asked for), and the
   * memberships asked for. Instants come as microseconds, exact.
   */
  async readBatch(db: Queryable, request: BatchReadRequest): Promise<BatchFacts> {
    const { rows } = await db.query<{ customers: unknown[][]; orders: unknown[][]; memberships: unknown[][] }>(
      `SELECT
         (SELECT coalesce(json_agg(json_build_array(c.id, floor(extract(epoch FROM c.created_at) * 1000000), c.country, c.city,
                   (SELECT jsonb_object_agg(k, jsonb_build_array(jsonb_typeof(c.attributes -> k), c.attributes ->> k))
                      FROM unnest($5::text[]) AS k WHERE c.attributes ? k))), '[]')
            FROM customers c WHERE c.id = ANY($1::text[])) AS customers,
         (SELECT coalesce(json_agg(json_build_array(o.customer_id, o.store_id, o.total_cents, floor(extract(epoch FROM o.created_at) * 1000000))), '[]')
            FROM orders o
           WHERE o.customer_id = ANY($1::text[])
             AND ($3::text[] IS NULL OR o.store_id = ANY($3::text[]))
             AND ($4::timestamptz IS NULL OR o.created_at >= $4::timestamptz)) AS orders,
         (SELECT coalesce(json_agg(json_build_array(m.customer_id, m.segment_id)), '[]')
            FROM segment_memberships m WHERE m.customer_id = ANY($1::text[]) AND m.segment_id = ANY($2::int[])) AS memberships`,
      [request.customerIds, request.segmentIds, request.storeIds, request.ordersSince, request.attributeKeys],
    );
    const row = rows[0]!;
    const customers = new Map<string, CustomerInput>();
    for (const [id, createdAt, country, city, attributes] of row.customers) {
      customers.set(id as string, {
        createdAtMicros: createdAt as number | null,
        country: country as string | null,
        city: city as string | null,
        attributes: (attributes ?? {}) as CustomerInput['attributes'],
      });
    }
    const orders = new Map<string, OrderInput[]>();
    for (const [customerId, storeId, totalCents, createdAt] of row.orders) {
      let list = orders.get(customerId as string);
      if (!list) orders.set(customerId as string, (list = []));
      list.push({ storeId: storeId as string, totalCents: Number(totalCents), createdAtMicros: createdAt as number });
    }
    const memberships = new Map<string, Set<number>>();
    for (const [customerId, segmentId] of row.memberships) {
      let set = memberships.get(customerId as string);
      if (!set) memberships.set(customerId as string, (set = new Set()));
      set.add(segmentId as number);
    }
    return { customers, orders, memberships, orderRows: row.orders.length };
  }

  /**
   * Applies a batch's flips in one statement: memberships inserted or
   * deleted, an event for each, the evaluation journal of segments being
   * recomputed, and each segment's net size change as a delta row (no
   * segment row is locked). Only flips that really change a row count.
   */
  async applyFlips(db: Queryable, batch: FlipBatch): Promise<FlipOutcome> {
    const { flips, versions, journal, asOf } = batch;
    if (flips.length === 0 && journal.size === 0) return { entered: 0, left: 0 };
    const journalSegments: number[] = [];
    const journalCustomers: string[] = [];
    for (const [segmentId, customers] of journal) {
      for (const customerId of customers) {
        journalSegments.push(segmentId);
        journalCustomers.push(customerId);
      }
    }
    const { rows } = await db.query<FlipOutcome>(
      `WITH flips AS (
         SELECT * FROM unnest($1::int[], $2::text[], $3::boolean[], $4::text[]) AS f (segment_id, customer_id, member, cause)
       ), versions AS (
         SELECT * FROM unnest($5::int[], $6::int[]) AS v (segment_id, version)
       ), entered AS (
         -- The batch's customers are this process's alone (partitions) and recomputes apply under the
         -- evaluation lock, so a plain probe suffices (ON CONFLICT costs about twice as much per row);
         -- a writer that broke this would fail the batch, which is then claimed again.
         INSERT INTO segment_memberships (segment_id, customer_id, since)
         SELECT f.segment_id, f.customer_id, $7::timestamptz FROM flips f
          WHERE f.member AND NOT EXISTS (SELECT 1 FROM segment_memberships m WHERE m.segment_id = f.segment_id AND m.customer_id = f.customer_id)
         RETURNING segment_id, customer_id
       ), departed AS (
         DELETE FROM segment_memberships m USING flips f
          WHERE NOT f.member AND m.segment_id = f.segment_id AND m.customer_id = f.customer_id
         RETURNING m.segment_id, m.customer_id
       ), recorded AS (
         INSERT INTO segment_membership_events (segment_id, customer_id, change, at, cause, segment_version)
         SELECT e.segment_id, e.customer_id, 'ENTERED', $7::timestamptz, f.cause, v.version
           FROM entered e JOIN flips f USING (segment_id, customer_id) JOIN versions v USING (segment_id)
         UNION ALL
         SELECT d.segment_id, d.customer_id, 'LEFT', $7::timestamptz, f.cause, v.version
           FROM departed d JOIN flips f USING (segment_id, customer_id) JOIN versions v USING (segment_id)
       ), journaled AS (
         INSERT INTO segment_evaluations (segment_id, version, evaluated_at, customer_ids)
         SELECT j.segment_id, v.version, $7::timestamptz, array_agg(j.customer_id)
           FROM unnest($8::int[], $9::text[]) AS j (segment_id, customer_id) JOIN versions v USING (segment_id)
          GROUP BY j.segment_id, v.version
       ), sized AS (
         INSERT INTO segment_size_deltas (segment_id, delta)
         SELECT segment_id, sum(delta)::int FROM (SELECT segment_id, 1 AS delta FROM entered UNION ALL SELECT segment_id, -1 FROM departed) x
          GROUP BY segment_id HAVING sum(delta) <> 0
       )
       SELECT (SELECT count(*)::int FROM entered) AS entered, (SELECT count(*)::int FROM departed) AS left`,
      [
        flips.map((f) => f.segmentId),
        flips.map((f) => f.customerId),
        flips.map((f) => f.member),
        flips.map((f) => f.cause),
        [...versions.keys()],
        [...versions.values()],
        asOf,
        journalSegments,
        journalCustomers,
      ],
    );
    return rows[0]!;
  }

  /** Takes a segment out of evaluation until a recompute succeeds: its rule fails at run time. */
  async quarantine(db: Queryable, segmentId: number, message: string): Promise<void> {
    await db.query('UPDATE segments SET quarantined_at = now(), compute_error = $2 WHERE id = $1', [segmentId, message]);
  }
}
