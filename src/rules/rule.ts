/**
 * The rule language, normalized. It has exactly the shape of the GraphQL
 * `SegmentRuleInput` / `SegmentRule` types (one key per node), so what is
 * stored in `segments.rule` is what clients read back. Dates are ISO strings
 * so the JSON round-trips unchanged.
 *
 * Semantics (docs/api.md "Rule language"):
 * - a customer with no matching orders has orderCount = 0 and orderTotal = 0;
 * - lastOrder matches only customers with a matching order;
 * - relative windows are measured back from the time of computation (`asOf`),
 *   a day being 24 hours: `withinDays: N` means created_at >= asOf - N days,
 *   `olderThanDays: N` means latest < asOf - N days;
 * - every condition is true or false, never unknown: a missing attribute
 *   makes its condition false, so `not` is always the complement.
 */
export type Comparison = 'EQ' | 'NEQ' | 'GT' | 'GTE' | 'LT' | 'LTE' | 'IN' | 'NOT_IN';
export type ScalarComparison = Exclude<Comparison, 'IN' | 'NOT_IN'>;

export interface OrderFilter {
  /** Sorted, without duplicates. */
  storeIds?: string[];
  withinDays?: number;
  /** Inclusive lower bound, ISO 8601 UTC. */
  since?: string;
  /** Exclusive upper bound, ISO 8601 UTC. */
  until?: string;
}

export interface OrderAggregate {
  filter?: OrderFilter;
  op: ScalarComparison;
  value: number;
}

export interface Recency {
  filter?: OrderFilter;
  olderThanDays?: number;
  withinDays?: number;
}

/**
 * `field` is `country`, `city`, `createdAt` or `attributes.<key>`.
 * EQ/NEQ/IN/NOT_IN compare text (`value` or sorted `values`); GT/GTE/LT/LTE
 * compare instants for createdAt and numbers for attributes.
 */
export interface AttributeCondition {
  field: string;
  op: Comparison;
  value?: string;
  values?: string[];
}

export type Rule =
  | { all: Rule[] }
  | { any: Rule[] }
  | { not: Rule }
  | { orderCount: OrderAggregate }
  | { orderTotal: OrderAggregate }
  | { lastOrder: Recency }
  | { attribute: AttributeCondition }
  | { inSegment: string };

/** Limits that keep any rule cheap to validate, store and compile. */
export const RULE_LIMITS = {
  /** Nesting levels, the root being 1. */
  maxDepth: 8,
  /** Nodes in the whole tree. */
  maxNodes: 100,
  /** Children of one all/any. */
  maxChildren: 50,
  /** Store ids in one filter, values in one attribute condition. */
  maxListLength: 1000,
  /** Longest window, in days (ten years). */
  maxDays: 3650,
  maxStringLength: 200,
} as const;

export const RULE_NODE_KINDS = [
  'all',
  'any',
  'not',
  'orderCount',
  'orderTotal',
  'lastOrder',
  'attribute',
  'inSegment',
] as const;
export type RuleNodeKind = (typeof RULE_NODE_KINDS)[number];

/** The ids of the segments a rule reads through `inSegment`. */
export function referencedSegments(rule: Rule): Set<string> {
  const ids = new Set<string>();
  const visit = (node: Rule): void => {
    if ('all' in node) node.all.forEach(visit);
    else if ('any' in node) node.any.forEach(visit);
    else if ('not' in node) visit(node.not);
    else if ('inSegment' in node) ids.add(node.inSegment);
  };
  visit(rule);
  return ids;
}

/** A rule node that compares one value of the customer: neither all, any nor not. */
export type Condition = Exclude<Rule, { all: Rule[] } | { any: Rule[] } | { not: Rule }>;

/** The conditions of a rule, in pre-order (the order an explanation lists them in). */
export function conditionsOf(rule: Rule): Condition[] {
  if ('all' in rule) return rule.all.flatMap(conditionsOf);
  if ('any' in rule) return rule.any.flatMap(conditionsOf);
  if ('not' in rule) return conditionsOf(rule.not);
  return [rule];
}

/** Whether the rule reads the order history (so new orders can change its members). */
export function readsOrders(rule: Rule): boolean {
  if ('all' in rule) return rule.all.some(readsOrders);
  if ('any' in rule) return rule.any.some(readsOrders);
  if ('not' in rule) return readsOrders(rule.not);
  return 'orderCount' in rule || 'orderTotal' in rule || 'lastOrder' in rule;
}

/** How many conditions of the rule read orders (each is at most one aggregate column of a compiled statement). */
export function orderConditionCount(rule: Rule): number {
  if ('all' in rule) return rule.all.reduce((n, r) => n + orderConditionCount(r), 0);
  if ('any' in rule) return rule.any.reduce((n, r) => n + orderConditionCount(r), 0);
  if ('not' in rule) return orderConditionCount(rule.not);
  return 'orderCount' in rule || 'orderTotal' in rule || 'lastOrder' in rule ? 1 : 0;
}

export const DAY_MS = 86_400_000;
/** Rules compare instants in microseconds (src/rules/instant-micros.ts). */
export const DAY_MICROS = DAY_MS * 1000;

/** `left op right` for the scalar comparisons of the rule language. */
export function compareScalar(left: number, op: ScalarComparison, right: number): boolean {
  switch (op) {
    case 'EQ':
      return left === right;
    case 'NEQ':
      return left !== right;
    case 'GT':
      return left > right;
    case 'GTE':
      return left >= right;
    case 'LT':
      return left < right;
    case 'LTE':
      return left <= right;
  }
}
