import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileMembersQuery } from '../../src/rules/compile-sql.js';
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
});
