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
    await stores.computations.recompute(segments);
    const { rows } = await stores.pool.query<{ customer_id: string }>('SELECT DISTINCT customer_id FROM segment_memberships WHERE segment_id = ANY($1::int[])', [segments]);
    expect(rows.map((r) => r.customer_id).sort()).toEqual([...ids].sort());
    const { rows: counts } = await stores.pool.query('SELECT count(*)::int AS n FROM segment_memberships WHERE segment_id = ANY($1::int[])', [segments]);
    expect(counts[0].n).toBe(ids.length * 8);
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
        const results = await stores.computations.recompute(ids);
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
