import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { MembershipEventRetention } from '../../src/stores/postgres/membership-event-retention.js';
import { MembershipEventStream, type MembershipEvent } from '../../src/stores/redis/membership-event-stream.js';
import { createSegment } from '../helpers/fixtures.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';
import { startTestWorkers } from '../helpers/workers.js';

const DAY_MS = 86_400_000;
const RETENTION_MS = 180 * DAY_MS;

/** An event to write: customer, change, how many days ago, published or not. */
type Row = [customer: string, change: 'ENTERED' | 'LEFT', daysAgo: number, published?: boolean];

interface Stored {
  id: number;
  customer: string;
  at: Date;
  published: boolean;
}

describe('membership event retention', () => {
  let stores: TestStores;
  let retention: MembershipEventRetention;
  let segment: number;

  /**
   * Writes events in the given order (their ids follow it), as the pipeline
   * would have written them long ago: retention is about time passing, which
   * a test cannot wait for.
   */
  const write = async (rows: Row[]) => {
    const now = Date.now();
    const written = await stores.pool.query(
      `WITH written AS (
         INSERT INTO segment_membership_events (segment_id, customer_id, change, at, cause, segment_version)
         SELECT $1, e.customer, e.change, e.at, 'event', 1
           FROM unnest($2::text[], $3::text[], $4::timestamptz[]) WITH ORDINALITY AS e (customer, change, at, n)
          ORDER BY e.n
         RETURNING id
       ) SELECT array_agg(id ORDER BY id)::text[] AS ids FROM written`,
      [segment, rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => new Date(now - r[2] * DAY_MS))],
    );
    // The trigger put every event in the publication outbox; those written as published leave it.
    const ids: string[] = written.rows[0].ids;
    await stores.pool.query('DELETE FROM membership_event_outbox WHERE event_id = ANY($1::bigint[])', [ids.filter((_, i) => rows[i]![3] ?? true)]);
  };
  const stored = async (): Promise<Stored[]> =>
    (
      await stores.pool.query<Stored>(
        `SELECT e.id::int, e.customer_id AS customer, e.at,
                NOT EXISTS (SELECT 1 FROM membership_event_outbox o WHERE o.event_id = e.id) AS published
           FROM segment_membership_events e WHERE e.segment_id = $1 ORDER BY e.id`,
        [segment],
      )
    ).rows;
  /** What a complete pass with this cutoff keeps: young, unpublished, and the latest event of each membership. */
  const kept = (events: Stored[], cutoff: Date) => {
    const latest = new Map<string, number>();
    for (const e of events) latest.set(e.customer, Math.max(latest.get(e.customer) ?? 0, e.id));
    return events.filter((e) => e.at >= cutoff || !e.published || latest.get(e.customer) === e.id).map((e) => e.id);
  };

  beforeAll(async () => {
    stores = await createTestStores();
    retention = new MembershipEventRetention(stores.pool);
  });
  beforeEach(async () => {
    // Each test starts from an empty table, with the position of earlier passes forgotten.
    await stores.pool.query('TRUNCATE segment_membership_events');
    await stores.pool.query('UPDATE membership_event_retention SET scanned_up_to = 0, pruned_before = NULL');
    segment = (await createSegment(stores)).id;
  });
  afterAll(async () => {
    await stores?.dispose();
  });

  it('drops old events but the latest of each membership, batch after batch until done', async () => {
    // 40 customers who flapped long ago: three events each, only the last one kept.
    await write(Array.from({ length: 40 }, (_, i): Row[] => [[`f${i}`, 'ENTERED', 300], [`f${i}`, 'LEFT', 299], [`f${i}`, 'ENTERED', 298]]).flat());
    await write([
      ['a', 'ENTERED', 300],
      ['b', 'ENTERED', 300],
      ['c', 'ENTERED', 300],
      ['a', 'LEFT', 250],
      ['a', 'ENTERED', 200],
      ['c', 'LEFT', 10],
      ['d', 'ENTERED', 5],
    ]);
    const before = await stored();

    const outcome = await retention.prune({ retentionMs: RETENTION_MS, batchSize: 7 });

    const after = await stored();
    const expected = kept(before, outcome.cutoff!);
    expect(after.map((e) => e.id)).toEqual(expected);
    expect(outcome).toMatchObject({ deleted: before.length - expected.length, done: true });
    expect(before.length - expected.length).toBe(2 + 1 + 80);
    // Seven events at a time over 127: the walk took many statements, and stopped at the young ones.
    expect(outcome.batches).toBeGreaterThan(10);
    expect(outcome.scanned).toBe(before.filter((e) => e.at < outcome.cutoff!).length);
    expect(after.filter((e) => e.customer === 'a').map((e) => e.id)).toEqual([before.filter((e) => e.customer === 'a')[2]!.id]);
    expect(after.filter((e) => e.customer === 'b')).toHaveLength(1);

    // Nothing more to do until time passes.
    expect(await retention.prune({ retentionMs: RETENTION_MS, batchSize: 7 })).toMatchObject({ deleted: 0, done: true });
    expect((await stored()).map((e) => e.id)).toEqual(expected);
  });

  it('stops at maxBatches and carries on from there at the next call', async () => {
    await write(Array.from({ length: 30 }, (_, i): Row[] => [[`g${i}`, 'ENTERED', 300], [`g${i}`, 'LEFT', 299]]).flat());
    const before = await stored();

    const first = await retention.prune({ retentionMs: RETENTION_MS, batchSize: 5, maxBatches: 3 });
    expect(first).toMatchObject({ batches: 3, scanned: 15, done: false });
    expect((await stored()).length).toBe(before.length - first.deleted);

    let calls = 1;
    for (let outcome = first; !outcome.done; calls++) outcome = await retention.prune({ retentionMs: RETENTION_MS, batchSize: 5, maxBatches: 3 });
    expect(calls).toBe(5); // 60 events, 15 a call, and a last call that finds the end of the table
    expect((await stored()).map((e) => e.id)).toEqual(kept(before, first.cutoff!));
    expect(await stored()).toHaveLength(30);
  });

  it('never drops an unpublished event, and waits at it until it is published', async () => {
    await write([
      ['a', 'ENTERED', 300],
      ['a', 'LEFT', 299],
      ['b', 'ENTERED', 298, false],
      ['c', 'ENTERED', 297],
      ['c', 'LEFT', 296],
    ]);
    const before = await stored();

    const outcome = await retention.prune({ retentionMs: RETENTION_MS, batchSize: 100 });
    expect(outcome).toMatchObject({ deleted: 1, scanned: 2, done: true });
    // a's first event went; b's is waiting for the publisher, and c's, behind it, wait with it.
    expect((await stored()).map((e) => e.id)).toEqual([before[1]!.id, before[2]!.id, before[3]!.id, before[4]!.id]);

    await stores.pool.query('DELETE FROM membership_event_outbox WHERE event_id = $1', [before[2]!.id]);
    expect(await retention.prune({ retentionMs: RETENTION_MS, batchSize: 100 })).toMatchObject({ deleted: 1, scanned: 3, done: true });
    expect((await stored()).map((e) => e.id)).toEqual([before[1]!.id, before[2]!.id, before[4]!.id]);
  });

  it('drops a kept latest event once a newer event of its membership ages past the retention', async () => {
    await write([['a', 'ENTERED', 300]]);
    await retention.prune({ retentionMs: RETENTION_MS, batchSize: 10 });
    const [kept] = await stored();
    expect(kept).toBeDefined();

    await write([['a', 'LEFT', 100]]);
    // Still young: the old event stays as the latest before the retention horizon.
    expect(await retention.prune({ retentionMs: RETENTION_MS, batchSize: 10 })).toMatchObject({ deleted: 0 });
    expect(await stored()).toHaveLength(2);
    // Once the newer one is older than the retention too, only it is kept.
    expect(await retention.prune({ retentionMs: 50 * DAY_MS, batchSize: 10 })).toMatchObject({ deleted: 1 });
    expect((await stored()).map((e) => e.id)).not.toContain(kept!.id);
    expect(await stored()).toHaveLength(1);
  });

  it('leaves out of sizeHistory the days that ended before events were dropped', async () => {
    await stores.pool.query(`UPDATE segments SET created_at = now() - interval '400 days' WHERE id = $1`, [segment]);
    await write([
      ['a', 'ENTERED', 300],
      ['a', 'LEFT', 250],
    ]);
    expect(await stores.membershipHistory.sizeHistory(segment, 366)).toHaveLength(366);
    const { cutoff, deleted } = await retention.prune({ retentionMs: RETENTION_MS });
    expect(deleted).toBe(1);

    const days = await stores.membershipHistory.sizeHistory(segment, 366);
    const ends = days.map((d) => d.day.getTime() + DAY_MS);
    expect(ends[0]).toBeGreaterThanOrEqual(cutoff!.getTime());
    expect(ends[0]! - DAY_MS).toBeLessThan(cutoff!.getTime());
    expect(days.every((d) => d.size === 0)).toBe(true);
  });

  it('runs on the maintenance queue on a schedule', async () => {
    await write([
      ['a', 'ENTERED', 300],
      ['a', 'LEFT', 299],
    ]);
    const workers = await startTestWorkers(stores, { membershipEventRetentionDays: 180, membershipRetentionEveryMs: 200 });
    try {
      await vi.waitFor(async () => expect(await stored()).toHaveLength(1), { timeout: 20_000, interval: 100 });
    } finally {
      await workers.close();
    }
  });
});

describe('membership event stream retention', () => {
  let stores: TestStores;
  beforeAll(async () => {
    stores = await createTestStores();
  });
  afterAll(async () => {
    await stores?.dispose();
  });

  const event = (id: number): MembershipEvent => ({
    id: String(id),
    segmentId: 1,
    customerId: 'c-1',
    change: 'ENTERED',
    at: new Date(),
    cause: 'event',
    segmentVersion: 1,
  });

  it('trims entries older than the retention at every append, and keeps the younger ones', async () => {
    const key = stores.keys.membershipEvents;
    const hourAgo = Date.now() - 3_600_000;
    // Entries with explicit ids: a thousand from long ago (ms 1 to 1000 of 1970), ten from an hour ago.
    const old = stores.redis.pipeline();
    for (let ms = 1; ms <= 1000; ms++) old.xadd(key, `${ms}-0`, 'eventId', `old-${ms}`);
    for (let i = 0; i < 10; i++) old.xadd(key, `${hourAgo + i}-0`, 'eventId', `young-${i}`);
    await old.exec();
    expect(await stores.redis.xlen(key)).toBe(1010);

    await new MembershipEventStream(stores.redis, stores.keys, { retentionMs: 2 * 3_600_000 }).append([event(1)]);

    const entries = await stores.redis.xrange(key, '-', '+');
    const ids = entries.map(([, fields]) => fields[1]!);
    // Trimming is approximate (~): whole nodes of the stream go, so up to one node of old entries may stay.
    const nodeSize = Number(((await stores.redis.config('GET', 'stream-node-max-entries')) as string[])[1]);
    expect(ids.filter((id) => id.startsWith('old-')).length).toBeLessThanOrEqual(nodeSize);
    expect(ids.filter((id) => !id.startsWith('old-'))).toEqual([...Array.from({ length: 10 }, (_, i) => `young-${i}`), '1']);

    // A shorter retention drops the young ones as well.
    await new MembershipEventStream(stores.redis, stores.keys, { retentionMs: 60_000 }).append([event(2)]);
    const left = (await stores.redis.xrange(key, '-', '+')).map(([, fields]) => fields[1]!);
    expect(left.filter((id) => id.startsWith('old-') || id.startsWith('young-')).length).toBeLessThanOrEqual(nodeSize);
    expect(left.slice(-2)).toEqual(['1', '2']);
  });
});
