import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileMembersQuery, compileMembershipMatrix } from '../../src/rules/compile-sql.js';
import { createSegment } from '../helpers/fixtures.js';
import { AS_OF, expected, history, loadHistory, rule, type History } from '../helpers/rule-arbitraries.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';

// The compiled SQL must agree with the reference evaluator on every rule and
// every order history (generators in helpers/rule-arbitraries.ts).
describe('the SQL compiler agrees with the reference evaluator', () => {
  let stores: TestStores;

  beforeAll(async () => {
    stores = await createTestStores();
    expect((await createSegment(stores, 'one')).id).toBe(1);
    expect((await createSegment(stores, 'two')).id).toBe(2);
  });
  afterAll(async () => {
    await stores?.dispose();
  });

  const load = (data: History) => loadHistory(stores.pool, stores.memberships, data);

  it('over the whole customer base', async () => {
    await fc.assert(
      fc.asyncProperty(history, rule, async (data, r) => {
        await load(data);
        const query = compileMembersQuery(r, { asOf: AS_OF });
        const { rows } = await stores.pool.query<{ customer_id: string }>(query);
        expect(rows.map((row) => row.customer_id).sort()).toEqual(expected(r, data));
      }),
      { numRuns: 150 },
    );
  });

  it('for a batch of customers, many rules in one statement, in both forms and with scopes per rule', async () => {
    await fc.assert(
      fc.asyncProperty(history, fc.array(rule, { minLength: 1, maxLength: 4 }), fc.boolean(), async (data, rules, singlePass) => {
        await load(data);
        const batch = data.customers.filter((_, i) => i % 2 === 0).map((c) => c.id).concat('not-a-customer');
        // Each rule evaluated for part of the batch, as the event path does.
        const scopes = rules.map((_, i) => batch.filter((_, j) => (i + j) % 3 !== 0));
        const whole = compileMembershipMatrix(rules, { asOf: AS_OF, customerIds: batch, singlePass });
        const scoped = compileMembershipMatrix(rules, { asOf: AS_OF, customerIds: batch, singlePass, scopes });
        const { rows } = await stores.pool.query<Record<string, string | boolean | null>>(whole);
        const { rows: scopedRows } = await stores.pool.query<Record<string, string | boolean | null>>(scoped);
        rules.forEach((r, i) => {
          const members = rows.filter((row) => row[`m${i}`] === true).map((row) => row.customer_id as string).sort();
          expect(members).toEqual(expected(r, data, batch));
          const scope = new Set(scopes[i]);
          const scopedMembers = scopedRows.filter((row) => row[`m${i}`] === true).map((row) => row.customer_id as string).sort();
          expect(scopedMembers).toEqual(expected(r, data, batch).filter((id) => scope.has(id)));
          // Outside its scope a rule's column is NULL: not evaluated, never a verdict.
          expect(scopedRows.filter((row) => !scope.has(row.customer_id as string)).every((row) => row[`m${i}`] === null)).toBe(true);
        });
        expect(rows.map((row) => row.customer_id).sort()).toEqual(batch.filter((id) => id !== 'not-a-customer').sort());
      }),
      { numRuns: 75 },
    );
  });
});
