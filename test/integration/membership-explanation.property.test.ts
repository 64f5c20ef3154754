import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MembershipExplainer } from '../../src/admin/membership-explainer.js';
import { compileMembersQuery } from '../../src/rules/compile-sql.js';
import { evaluateRule } from '../../src/rules/evaluate-rule.js';
import type { Rule } from '../../src/rules/rule.js';
import { MembershipExplanationRepository } from '../../src/stores/postgres/membership-explanation-repository.js';
import type { SegmentRecord } from '../../src/stores/postgres/segment-repository.js';
import { createSegment } from '../helpers/fixtures.js';
import { AS_OF, history, loadHistory, rule, type History } from '../helpers/rule-arbitraries.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';

// explainMembership's verdict is the pipeline's (issue 9, item 1): on random
// rules and order histories, `member` equals the compiled SQL's set for every
// customer, the first clause's `holds` equals `member`, and every clause agrees
// with the reference evaluator on its own node.

/** The rule's nodes in pre-order: the order of an explanation's clauses. */
function nodes(r: Rule): Rule[] {
  if ('all' in r) return [r, ...r.all.flatMap(nodes)];
  if ('any' in r) return [r, ...r.any.flatMap(nodes)];
  if ('not' in r) return [r, ...nodes(r.not)];
  return [r];
}

describe('explainMembership agrees with the compiled SQL', () => {
  let stores: TestStores;
  let segmentRule: Rule;
  let explainer: MembershipExplainer;

  beforeAll(async () => {
    stores = await createTestStores();
    expect((await createSegment(stores, 'one')).id).toBe(1);
    expect((await createSegment(stores, 'two')).id).toBe(2);
    // The segment explained: segment 3 with whatever rule the property draws.
    const record = { ...(await createSegment(stores, 'explained')), kind: 'RULE' } as SegmentRecord;
    explainer = new MembershipExplainer(
      { findByIds: async (ids) => (ids[0] === record.id ? [{ ...record, rule: segmentRule }] : []) },
      new MembershipExplanationRepository(stores.pool),
      () => AS_OF,
    );
  });
  afterAll(async () => {
    await stores?.dispose();
  });

  it('for every customer of random histories, on random rules', async () => {
    await fc.assert(
      fc.asyncProperty(history, rule, async (data: History, r: Rule) => {
        await loadHistory(stores.pool, stores.memberships, data);
        segmentRule = r;
        // The members by the schedule's form: the whole customer base in one set-based statement.
        const { rows } = await stores.pool.query<{ customer_id: string }>(compileMembersQuery(r, { asOf: AS_OF }));
        const members = new Set(rows.map((row) => row.customer_id));
        const preorder = nodes(r);
        for (const customer of data.customers) {
          const explained = await explainer.explain('3', customer.id);
          expect(explained.member).toBe(members.has(customer.id));
          expect(explained.clauses[0]!.holds).toBe(explained.member);
          expect(explained.evaluatedAt).toEqual(AS_OF);

          const context = {
            asOf: AS_OF,
            orders: data.orders.filter((o) => o.customerId === customer.id),
            isMember: (segmentId: string) => data.members[segmentId as '1' | '2']?.has(customer.id) ?? false,
          };
          expect(explained.clauses).toHaveLength(preorder.length);
          preorder.forEach((node, i) => {
            const clause = explained.clauses[i]!;
            expect([clause.path, clause.holds]).toEqual([clause.path, evaluateRule(node, customer, context)]);
            // The value shown is the one compared: the reference evaluator finds exactly that many orders, or that total.
            if ('orderCount' in node) expect(evaluateRule({ orderCount: { ...node.orderCount, op: 'EQ', value: Number(clause.actual) } }, customer, context)).toBe(true);
            if ('orderTotal' in node) expect(evaluateRule({ orderTotal: { ...node.orderTotal, op: 'EQ', value: Number(clause.actual) } }, customer, context)).toBe(true);
            if ('inSegment' in node) expect(clause.actual).toBe(String(context.isMember(node.inSegment)));
          });
        }
        // A customer the service has no record of is a member of no rule, whatever their orders.
        const unknown = await explainer.explain('3', 'not-a-customer');
        expect(unknown.member).toBe(false);
        expect(unknown.clauses).toMatchObject([{ holds: false }]);
      }),
      { numRuns: 100 },
    );
  });
});
