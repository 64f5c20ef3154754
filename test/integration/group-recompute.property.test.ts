import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileMembersQuery } from '../../src/rules/compile-sql.js';
import { createSegment, insertRuleSegment } from '../helpers/fixtures.js';
import { history, loadHistory, rule, type History } from '../helpers/rule-arbitraries.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';

// Segments recomputed together are computed in one pass in the worker
// (segment-group-computation.ts); one alone by its rule's SQL. Both must end
// with the memberships the rule's SQL selects as of the recompute's time,
// whatever the memberships were before, and record one event per change.
// (The SQL is held to the reference evaluator by rule-compiler.property.test.ts.)
describe('a group recompute agrees with the SQL of each rule', () => {
  let stores: TestStores;

  beforeAll(async () => {
    stores = await createTestStores();
    expect((await createSegment(stores, 'one')).id).toBe(1);
    expect((await createSegment(stores, 'two')).id).toBe(2);
  });
  afterAll(async () => {
    await stores?.dispose();
  });

  it('carries any customer id through the stream and back, whatever its characters', async () => {
    await stores.pool.query(`DELETE FROM segments WHERE kind = 'RULE'`);
    await stores.pool.query('TRUNCATE customers, orders, segment_memberships, segment_membership_events, membership_event_outbox');
    const ids = ['tab\there', 'back\\slash', 'quote"d', 'new\nline', 'crème brûlée', '雪', "o'neil"];
    await stores.pool.query(`INSERT INTO customers (id) SELECT unnest($1::text[])`, [ids]);
    await stores.pool.query(`INSERT INTO orders (id, customer_id, store_id, total_cents) SELECT 'o-' || i, id, 's1', 100 FROM unnest($1::text[]) WITH ORDINALITY AS t (id, i)`, [ids]);
    const segments: number[] = [];
    for (let i = 0; i < 8; i++) {
      segments.push(await insertRuleSegment(stores, { orderCount: { filter: { storeIds: ['s1'] }, op: 'GTE', value: 1 } }, `chars ${i}`));
    }
    await stores.recompute.run(segments);
    const { rows } = await stores.pool.query<{ customer_id: string }>('SELECT DISTINCT customer_id FROM segment_memberships WHERE segment_id = ANY($1::int[])', [segments]);
    expect(rows.map((r) => r.customer_id).sort()).toEqual([...ids].sort());
    const { rows: counts } = await stores.pool.query('SELECT count(*)::int AS n FROM segment_memberships WHERE segment_id = ANY($1::int[])', [segments]);
    expect(counts[0].n).toBe(ids.length * 8);
  });

  it('keeps, segment by segment of a pass, the answers the event path journaled after it computed', async () => {
    await stores.pool.query(`DELETE FROM segments WHERE kind = 'RULE'`);
    await stores.pool.query('TRUNCATE customers, orders, segment_memberships, segment_membership_events, membership_event_outbox, segment_evaluations');
    await stores.pool.query(`INSERT INTO customers (id) VALUES ('c1'), ('c2'), ('c3')`);
    await stores.pool.query(`INSERT INTO orders (id, customer_id, store_id, total_cents) VALUES ('o1', 'c1', 's1', 100), ('o2', 'c2', 's1', 100), ('o3', 'c3', 's1', 100)`);
    const segments: number[] = [];
    for (let i = 0; i < 9; i++) segments.push(await insertRuleSegment(stores, { orderCount: { filter: { storeIds: ['s1'] }, op: 'GTE', value: 1 } }, `together ${i}`));
    // The event path evaluated c1 for the first segment after any computation started: its answer (not a member) stands.
    await stores.pool.query(`INSERT INTO segment_evaluations (segment_id, version, evaluated_at, customer_ids) VALUES ($1, 1, now() + interval '1 hour', '{c1}')`, [segments[0]]);
    // ...but only for the version it evaluated.
    await stores.pool.query(`INSERT INTO segment_evaluations (segment_id, version, evaluated_at, customer_ids) VALUES ($1, 7, now() + interval '1 hour', '{c2}')`, [segments[1]]);
    const results = await stores.recompute.run(segments);
    expect(results.get(segments[0]!)).toMatchObject({ version: 1, size: 2, entered: 2, left: 0, keptNewer: 1 });
    for (const id of segments.slice(1)) expect(results.get(id)).toMatchObject({ version: 1, size: 3, entered: 3, left: 0, keptNewer: 0 });
    const { rows } = await stores.pool.query<{ segment_id: number; members: string[]; events: string[]; size: number; computed: boolean }>(
      `SELECT s.id AS segment_id, s.size, s.last_computed_at IS NOT NULL AND s.computing_since IS NULL AS computed,
              ARRAY(SELECT customer_id FROM segment_memberships m WHERE m.segment_id = s.id ORDER BY 1) AS members,
              ARRAY(SELECT change || ' ' || customer_id FROM segment_membership_events e WHERE e.segment_id = s.id ORDER BY customer_id) AS events
         FROM segments s WHERE s.id = ANY($1::int[]) ORDER BY s.id`,
      [segments],
    );
    expect(rows).toEqual(
      segments.map((id, i) => {
        const members = i === 0 ? ['c2', 'c3'] : ['c1', 'c2', 'c3'];
        return { segment_id: id, size: members.length, computed: true, members, events: members.map((c) => `ENTERED ${c}`) };
      }),
    );
  });

  it('from any earlier memberships, for random rules and histories', async () => {
    await fc.assert(
      fc.asyncProperty(history, fc.array(rule, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 30 }), fc.boolean(), async (data: History, drawn, stale, asGroup) => {
        // A group of 8 or more takes the one-pass path, fewer are computed one by one: both are checked.
        const rules = asGroup ? Array.from({ length: 8 }, (_, i) => drawn[i % drawn.length]!) : drawn;
        await stores.pool.query(`DELETE FROM segments WHERE kind = 'RULE'`);
        await stores.pool.query('DELETE FROM segment_membership_events; TRUNCATE membership_event_outbox');
        await loadHistory(stores.pool, stores.memberships, data);
        const ids: number[] = [];
        for (const r of rules) {
          ids.push(await insertRuleSegment(stores, r));
        }
        // Memberships from before: some right, some wrong, some of customers that no longer exist.
        const customers = data.customers.map((c) => c.id).concat('gone');
        for (const n of stale) {
          await stores.pool.query('INSERT INTO segment_memberships (segment_id, customer_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
            ids[n % ids.length],
            customers[n % customers.length],
          ]);
        }
        const before = (await stores.pool.query('SELECT segment_id, customer_id FROM segment_memberships WHERE segment_id = ANY($1::int[])', [ids])).rows;
        const results = await stores.recompute.run(ids);
        for (const [i, r] of rules.entries()) {
          const result = results.get(ids[i]!)!;
          expect(result, JSON.stringify(result)).toHaveProperty('size');
          const { rows: computed } = await stores.pool.query<{ at: Date }>('SELECT last_computed_at AS at FROM segments WHERE id = $1', [ids[i]]);
          const asOf = computed[0]!.at;
          const { rows } = await stores.pool.query<{ customer_id: string }>('SELECT customer_id FROM segment_memberships WHERE segment_id = $1', [ids[i]]);
          const members = rows.map((row) => row.customer_id).sort();
          const { rows: wanted } = await stores.pool.query<{ customer_id: string }>(compileMembersQuery(r, { asOf }));
          expect(members).toEqual(wanted.map((row) => row.customer_id).sort());
          // One event per change, and nothing else.
          const had = new Set(before.filter((m) => m.segment_id === ids[i]).map((m) => m.customer_id));
          const { rows: events } = await stores.pool.query<{ customer_id: string; change: string }>(
            'SELECT customer_id, change FROM segment_membership_events WHERE segment_id = $1 ORDER BY id',
            [ids[i]],
          );
          const wantedEvents = [
            ...members.filter((id) => !had.has(id)).map((id) => ({ customer_id: id, change: 'ENTERED' })),
            ...[...had].filter((id) => !members.includes(id)).map((id) => ({ customer_id: id, change: 'LEFT' })),
          ];
          const key = (e: { customer_id: string; change: string }) => `${e.change} ${e.customer_id}`;
          expect(events.map(key).sort()).toEqual(wantedEvents.map(key).sort());
        }
      }),
      { numRuns: 80 },
    );
  }, 120_000);
});
