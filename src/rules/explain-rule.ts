import { formatPath } from './parse-rule.js';
import { DAY_MS, type Condition, type OrderFilter, type Rule, type ScalarComparison } from './rule.js';

/**
 * What the database found for one condition of a rule and one customer
 * (compileExplanationQuery): whether the condition's compiled predicate
 * holds, and the value it compared. The verdict is taken from the SQL, not
 * recomputed here, so that an explanation can never disagree with the
 * pipeline (numeric attributes, say, compare as Postgres numerics).
 */
export interface ConditionFacts {
  holds: boolean;
  /** The customer's value as text; null when there is none (no matching order, a missing attribute). */
  actual: string | null;
}

/** One node of a rule, explained for one customer (GraphQL `ClauseExplanation`). */
export interface ClauseExplanation {
  /**
   * Where the node's condition sits in the stored rule, written as validation
   * errors write paths: `all[1].orderCount`; the root's is its kind alone
   * (`all`, or `orderCount` for a rule of one condition).
   */
  path: string;
  holds: boolean;
  /** The customer's value; for all/any, how many children hold; for not, whether its child holds. */
  actual: string | null;
  /** What the condition needs, in words: `at least 3`, `one of "DE", "FR"`. */
  expected: string | null;
  /** One readable line: `orders at store-00001 in the last 30 days: 2, needs at least 3`. */
  summary: string;
}

/**
 * Explains a rule for one customer, every node in pre-order (the root first),
 * from the facts of its conditions (in the order of `conditionsOf`): leaves
 * take the SQL's verdict, and all/any/not combine their children's exactly
 * as the compiled predicate does. `asOf` is the time the facts were computed
 * at, which relative windows are measured from.
 */
export function explainRule(rule: Rule, facts: readonly ConditionFacts[], asOf: Date): ClauseExplanation[] {
  let next = 0;
  // The node's clause, then its subtree's.
  const visit = (node: Rule, at: PropertyKey[]): ClauseExplanation[] => {
    if ('all' in node || 'any' in node) {
      const kind = 'all' in node ? 'all' : 'any';
      const subtrees = ('all' in node ? node.all : node.any).map((child, i) => visit(child, [...at, kind, i]));
      return [combine(kind, formatPath([...at, kind]), subtrees.map((t) => t[0]!)), ...subtrees.flat()];
    }
    if ('not' in node) {
      const subtree = visit(node.not, [...at, 'not']);
      const child = subtree[0]!;
      const clause: ClauseExplanation = {
        path: formatPath([...at, 'not']),
        holds: !child.holds,
        actual: String(child.holds),
        expected: 'false',
        summary: child.holds ? `${child.path} holds, needs it not to` : `${child.path} does not hold, as needed`,
      };
      return [clause, ...subtree];
    }
    const fact = facts[next++];
    if (!fact) throw new RangeError(`no facts for condition ${next - 1} of the rule`);
    return [explainCondition(node, fact, asOf, formatPath([...at, kindOf(node)]))];
  };
  const clauses = visit(rule, []);
  if (next !== facts.length) throw new RangeError(`${facts.length} facts for a rule of ${next} conditions`);
  return clauses;
}

function combine(kind: 'all' | 'any', path: string, children: readonly ClauseExplanation[]): ClauseExplanation {
  const holding = children.filter((c) => c.holds).length;
  const n = children.length;
  const holds = kind === 'all' ? holding === n : holding > 0;
  const counted = `${holding === 0 ? 'none' : holding} of ${n} conditions ${holding === 1 ? 'holds' : 'hold'}`;
  return {
    path,
    holds,
    actual: String(holding),
    expected: kind === 'all' ? String(n) : 'at least 1',
    summary: kind === 'all' ? (holds ? `all ${n} conditions hold` : `${counted}, needs all ${n}`) : `${counted}, needs at least 1`,
  };
}

const kindOf = (condition: Condition) => Object.keys(condition)[0]!;

/** One condition explained: the SQL's verdict with what was compared, in words. */
export function explainCondition(condition: Condition, { holds, actual }: ConditionFacts, asOf: Date, path: string): ClauseExplanation {
  const { subject, expected, shown } = describe(condition, actual, asOf);
  return { path, holds, actual, expected, summary: `${subject}: ${shown}, needs ${expected}` };
}

function describe(condition: Condition, actual: string | null, asOf: Date): { subject: string; expected: string; shown: string } {
  if ('orderCount' in condition) {
    const { filter, op, value } = condition.orderCount;
    return { subject: `orders${filterPhrase(filter)}`, expected: numberNeeded(op, value), shown: actual ?? '0' };
  }
  if ('orderTotal' in condition) {
    const { filter, op, value } = condition.orderTotal;
    return { subject: `total cents of orders${filterPhrase(filter)}`, expected: numberNeeded(op, value), shown: actual ?? '0' };
  }
  if ('lastOrder' in condition) {
    const { filter, olderThanDays, withinDays } = condition.lastOrder;
    const cutoff = (days: number) => new Date(asOf.getTime() - days * DAY_MS).toISOString();
    const parts: string[] = [];
    if (withinDays !== undefined) parts.push(`at or after ${cutoff(withinDays)} (within the last ${days(withinDays)})`);
    if (olderThanDays !== undefined) parts.push(`before ${cutoff(olderThanDays)} (more than ${days(olderThanDays)} ago)`);
    return { subject: `latest order${filterPhrase(filter)}`, expected: parts.join(' and '), shown: actual ?? 'none' };
  }
  if ('attribute' in condition) {
    const { field, op, value, values } = condition.attribute;
    // A missing attribute makes every comparison false, NEQ and NOT_IN included (docs/api.md "Rule language").
    const shown =
      actual !== null ? (field === 'createdAt' ? actual : JSON.stringify(actual)) : op === 'NEQ' || op === 'NOT_IN' ? 'missing (a missing attribute fails every comparison)' : 'missing';
    const list = () => values!.map((v) => JSON.stringify(v)).join(', ');
    let expected: string;
    switch (op) {
      case 'EQ':
        expected = JSON.stringify(value);
        break;
      case 'NEQ':
        expected = `a value other than ${JSON.stringify(value)}`;
        break;
      case 'IN':
        expected = `one of ${list()}`;
        break;
      case 'NOT_IN':
        expected = `a value other than ${list()}`;
        break;
      default:
        expected = field === 'createdAt' ? `${INSTANT_NEEDED[op]} ${value!}` : `a number ${NUMBER_NEEDED[op]} ${value!}`;
    }
    return { subject: field, expected, shown };
  }
  return { subject: `member of segment ${condition.inSegment}`, expected: 'yes', shown: actual === 'true' ? 'yes' : 'no' };
}

const NUMBER_NEEDED: Record<ScalarComparison, string> = {
  EQ: 'exactly',
  NEQ: 'other than',
  GT: 'more than',
  GTE: 'at least',
  LT: 'less than',
  LTE: 'at most',
};
const INSTANT_NEEDED: Record<ScalarComparison, string> = {
  EQ: 'exactly',
  NEQ: 'other than',
  GT: 'after',
  GTE: 'at or after',
  LT: 'before',
  LTE: 'at or before',
};

const numberNeeded = (op: ScalarComparison, value: number) => `${NUMBER_NEEDED[op]} ${value}`;

const days = (n: number) => (n === 1 ? '1 day' : `${n} days`);

/** Which orders a condition reads, as words after "orders": ` at store-1, store-2 in the last 30 days`. */
function filterPhrase(filter: OrderFilter | undefined): string {
  if (!filter) return '';
  const parts: string[] = [];
  if (filter.storeIds) parts.push(`at ${filter.storeIds.join(', ')}`);
  if (filter.withinDays !== undefined) parts.push(`in the last ${days(filter.withinDays)}`);
  if (filter.since) parts.push(`since ${filter.since}`);
  if (filter.until) parts.push(`before ${filter.until}`);
  return parts.map((p) => ` ${p}`).join('');
}

/**
 * The explanation of a rule for a customer the service holds no record of
 * (not in `customers`): the pipeline evaluates rules over known customers
 * only, so such a customer is a member of no RULE segment whatever orders
 * were recorded for them. One clause, the root.
 */
export function explainUnknownCustomer(rule: Rule, customerId: string): ClauseExplanation[] {
  return [
    {
      path: formatPath([Object.keys(rule)[0]!]),
      holds: false,
      actual: null,
      expected: null,
      summary: `customer ${JSON.stringify(customerId)} is not known to segmentation (no customer record), so no rule selects them`,
    },
  ];
}

/** The explanation of a STATIC segment: one clause, whether the customer is listed; its path is '' (there is no rule). */
export function explainListing(segmentId: number, listed: boolean): ClauseExplanation[] {
  return [
    {
      path: '',
      holds: listed,
      actual: String(listed),
      expected: 'true',
      summary: `listed in the members of STATIC segment ${segmentId}: ${listed ? 'yes' : 'no'}, needs yes`,
    },
  ];
}
