import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/platform/logger.js';
import { compileMembersQuery } from '../../src/rules/compile-sql.js';
import { CompiledRules } from '../../src/rules/compiled-rules.js';
import { CustomerEvaluation } from '../../src/rules/customer-evaluation.js';
import { evaluateRule } from '../../src/rules/evaluate-rule.js';
import type { Rule } from '../../src/rules/rule.js';
import { CustomerEvaluationRepository } from '../../src/stores/postgres/customer-evaluation-repository.js';
import { ChangeEvaluator, type BatchReport } from '../../src/pipeline/change-evaluator.js';
import { LiveRuleIndex } from '../../src/pipeline/live-rule-index.js';
import { createSegment, insertRuleSegment } from '../helpers/fixtures.js';
import { AS_OF, expected, history, instant, loadHistory, rule, type History } from '../helpers/rule-arbitraries.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';

// The event path evaluates rules in the worker (src/rules/compiled-rules.ts)
// over the rows one statement reads. It must agree with the set-based SQL and
// the reference evaluator: on facts at a fixed instant (window edges to the
// millisecond), and as maintained by the real evaluator through random
// inserts, updates and deletes of orders and customers.
describe('the event path agrees with the SQL compiler and the reference evaluator', () => {
  let stores: TestStores;
  let repository: CustomerEvaluationRepository;

  beforeAll(async () => {
    stores = await createTestStores();
    expect((await createSegment(stores, 'one')).id).toBe(1);
    expect((await createSegment(stores, 'two')).id).toBe(2);
    repository = new CustomerEvaluationRepository(stores.pool);
  });
  afterAll(async () => {
    await stores?.dispose();
  });

  const load = async (data: History) => {
    await loadHistory(stores.pool, stores.memberships, data);
    await stores.pool.query('TRUNCATE customer_change_outbox');
  };

  it('on the facts one statement reads, at window edges', async () => {
    await fc.assert(
      fc.asyncProperty(history, fc.array(rule, { minLength: 1, maxLength: 5 }), async (data, rules) => {
        await load(data);
        const compiled = new CompiledRules();
        const programs = rules.map((r, i) => compiled.compile(100 + i, 1, r));
        const batch = data.customers.map((c) => c.id).concat('not-a-customer');
        const facts = await repository.readBatch(stores.pool, {
          customerIds: batch,
          segmentIds: [1, 2],
          storeIds: null,
          ordersSince: null,
          attributeKeys: [...new Set(programs.flatMap((p) => p.attributeKeys))],
        });
        for (const [i, r] of rules.entries()) {
          const members = batch.filter((id) => {
            const row = facts.customers.get(id);
            return row !== undefined && new CustomerEvaluation(compiled, AS_OF, row, facts.orders.get(id) ?? [], new Set(facts.memberships.get(id))).evaluate(programs[i]!);
          });
          expect(members.sort()).toEqual(expected(r, data));
          const { rows } = await stores.pool.query<{ customer_id: string }>(compileMembersQuery(r, { asOf: AS_OF }));
          expect(members).toEqual(rows.map((row) => row.customer_id).sort());
        }
      }),
      { numRuns: 150 },
    );
  });

  const order = fc.record({
    storeId: fc.constantFrom('s1', 's2', 's3', 's4'),
    totalCents: fc.integer({ min: 0, max: 5000 }),
    createdAt: instant,
  });
  const customerColumns = fc.record({
    country: fc.constantFrom('DE', 'FR', null),
    city: fc.constantFrom('Berlin', 'Paris', null),
    tier: fc.constantFrom('gold', 'silver', null),
  });
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('insertOrder' as const), customer: fc.nat(), order }),
    fc.record({ kind: fc.constant('updateOrder' as const), target: fc.nat(), customer: fc.nat(), order }),
    fc.record({ kind: fc.constant('deleteOrder' as const), target: fc.nat() }),
    { arbitrary: fc.record({ kind: fc.constant('updateCustomer' as const), customer: fc.nat(), columns: customerColumns }), weight: 3 },
    fc.record({ kind: fc.constant('deleteCustomer' as const), customer: fc.nat() }),
    fc.record({ kind: fc.constant('insertCustomer' as const), customer: fc.nat() }),
  );
  type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

  /** Applies one mutation with plain SQL, as any writer would (the capture triggers record it). */
  async function apply(m: Mutation, ids: readonly string[], step: number): Promise<void> {
    const customer = ids[('customer' in m ? m.customer : 0) % ids.length]!;
    const pick = async () => {
      const { rows } = await stores.pool.query<{ id: string }>('SELECT id FROM orders ORDER BY id');
      return rows.length ? rows[('target' in m ? m.target : 0) % rows.length]!.id : null;
    };
    switch (m.kind) {
      case 'insertOrder':
        await stores.pool.query('INSERT INTO orders (id, customer_id, store_id, total_cents, created_at) VALUES ($1, $2, $3, $4, $5)', [
          `m${step}`,
          customer,
          m.order.storeId,
          m.order.totalCents,
          m.order.createdAt,
        ]);
        return;
      case 'updateOrder': {
        const id = await pick();
        if (id) {
          await stores.pool.query('UPDATE orders SET customer_id = $2, store_id = $3, total_cents = $4, created_at = $5 WHERE id = $1', [
            id,
            customer,
            m.order.storeId,
            m.order.totalCents,
            m.order.createdAt,
          ]);
        }
        return;
      }
      case 'deleteOrder': {
        const id = await pick();
        if (id) await stores.pool.query('DELETE FROM orders WHERE id = $1', [id]);
        return;
      }
      case 'updateCustomer':
        await stores.pool.query(
          `UPDATE customers SET country = $2, city = $3,
                  attributes = CASE WHEN $4::text IS NULL THEN attributes - 'tier' ELSE attributes || jsonb_build_object('tier', $4::text) END
            WHERE id = $1`,
          [customer, m.columns.country, m.columns.city, m.columns.tier],
        );
        return;
      case 'deleteCustomer':
        await stores.pool.query('DELETE FROM customers WHERE id = $1', [customer]);
        return;
      case 'insertCustomer':
        await stores.pool.query(`INSERT INTO customers (id, country, created_at) VALUES ($1, 'DE', $2) ON CONFLICT (id) DO NOTHING`, [customer, AS_OF]);
        return;
    }
  }

  /** The reference evaluator's members of `r` as of `asOf`, over what the database holds now. */
  async function reference(r: Rule, asOf: Date): Promise<string[]> {
    const { rows: customers } = await stores.pool.query('SELECT id, created_at, country, city, attributes FROM customers');
    const { rows: orders } = await stores.pool.query('SELECT customer_id, store_id, total_cents, created_at FROM orders');
    const { rows: members } = await stores.pool.query<{ segment_id: number; customer_id: string }>('SELECT segment_id, customer_id FROM segment_memberships');
    return customers
      .filter((c) =>
        evaluateRule(
          r,
          { id: c.id, createdAt: c.created_at, country: c.country, city: c.city, attributes: c.attributes },
          {
            asOf,
            orders: orders
              .filter((o) => o.customer_id === c.id)
              .map((o) => ({ storeId: o.store_id, totalCents: Number(o.total_cents), createdAt: o.created_at })),
            isMember: (id) => members.some((m) => String(m.segment_id) === id && m.customer_id === c.id),
          },
        ),
      )
      .map((c) => c.id as string)
      .sort();
  }

  it('as maintained by the evaluator through random changes of orders and customers', async () => {
    await fc.assert(
      fc.asyncProperty(history, fc.array(rule, { minLength: 1, maxLength: 4 }), fc.array(mutation, { maxLength: 12 }), async (data, rules, mutations) => {
        await stores.pool.query(`DELETE FROM segments WHERE kind = 'RULE'`);
        await stores.pool.query('DELETE FROM segment_membership_events; TRUNCATE membership_event_outbox');
        await load(data);
        // RULE segments as the admin API stores them; their memberships start empty and the loaded rows' changes fill them.
        const ids: number[] = [];
        for (const r of rules) {
          ids.push(await insertRuleSegment(stores, r));
        }
        const customerIds = data.customers.map((c) => c.id).concat('newcomer');
        // Everything loaded counts as changed: each customer once for every segment.
        await stores.pool.query('INSERT INTO customer_change_outbox (customer_id) SELECT id FROM customers');
        const reports: BatchReport[] = [];
        // Slices of a customer or two (evaluationsPerRead): a batch reads and writes in several rounds.
        const evaluator = new ChangeEvaluator({
          outbox: stores.changeOutbox,
          evaluations: repository,
          ruleIndex: new LiveRuleIndex(stores.computations),
          onChanged: () => undefined,
          onBatch: (report) => reports.push(report),
          logger: createLogger('silent'),
        }, { freshBatch: 3, backlogBatch: 4, evaluationsPerRead: 2, partitions: { rebalanceMs: 0 } });
        const client = await repository.connect();
        try {
          // Announced, then every partition taken: the only evaluator.
          await evaluator.leases.rebalance(client);
          await evaluator.leases.rebalance(client);
          expect(evaluator.leases.claimable).toBeNull();
          const drain = async () => {
            while ((await evaluator.runBatch(client)) !== null);
          };
          await drain();
          for (const [step, m] of mutations.entries()) {
            await apply(m, customerIds, step);
            if (step % 3 === 2) await drain();
          }
          await drain();
          await evaluator.leases.release(client);
        } finally {
          client.release();
        }
        // Relative windows move with the clock: the answer must not depend on when, within the run, a customer was evaluated.
        const first = reports[0]?.asOf;
        const last = reports.at(-1)?.asOf;
        for (const [i, r] of rules.entries()) {
          const { rows } = await stores.pool.query<{ customer_id: string }>('SELECT customer_id FROM segment_memberships WHERE segment_id = $1 ORDER BY customer_id', [ids[i]]);
          const maintained = rows.map((row) => row.customer_id).sort();
          if (!first || !last) {
            expect(maintained).toEqual([]);
            continue;
          }
          const atLast = (await stores.pool.query<{ customer_id: string }>(compileMembersQuery(r, { asOf: last }))).rows.map((row) => row.customer_id).sort();
          const atFirst = (await stores.pool.query<{ customer_id: string }>(compileMembersQuery(r, { asOf: first }))).rows.map((row) => row.customer_id).sort();
          fc.pre(JSON.stringify(atFirst) === JSON.stringify(atLast)); // a window edge passed during the run: no single right answer
          expect(maintained).toEqual(atLast);
          expect(maintained).toEqual(await reference(r, last));
        }
        // Only flips were written: events alternate per membership, starting with ENTERED.
        const { rows: events } = await stores.pool.query<{ segment_id: number; customer_id: string; changes: string[] }>(
          `SELECT segment_id, customer_id, array_agg(change ORDER BY id) AS changes FROM segment_membership_events
            WHERE segment_id = ANY($1::int[]) GROUP BY 1, 2`,
          [ids],
        );
        for (const e of events) e.changes.forEach((change, k) => expect(change).toBe(k % 2 === 0 ? 'ENTERED' : 'LEFT'));
      }),
      { numRuns: 120 },
    );
  }, 120_000);
});
