import { compareScalar, DAY_MS, type AttributeCondition, type OrderFilter, type Rule, type ScalarComparison } from './rule.js';

/**
 * The reference evaluator: the rule semantics written plainly for one
 * customer in memory. The SQL compiler is checked against it with
 * property-based tests; it is not used to serve anything.
 */
export interface CustomerFacts {
  id: string;
  createdAt: Date | null;
  country: string | null;
  city: string | null;
  attributes: Record<string, unknown>;
}

export interface OrderFacts {
  storeId: string;
  totalCents: number;
  createdAt: Date;
}

export interface EvaluationContext {
  asOf: Date;
  /** The customer's orders. */
  orders: readonly OrderFacts[];
  /** Whether the customer is currently a member of the segment. */
  isMember(segmentId: string): boolean;
}

export function evaluateRule(rule: Rule, customer: CustomerFacts, context: EvaluationContext): boolean {
  const recurse = (r: Rule) => evaluateRule(r, customer, context);
  if ('all' in rule) return rule.all.every(recurse);
  if ('any' in rule) return rule.any.some(recurse);
  if ('not' in rule) return !recurse(rule.not);
  if ('orderCount' in rule) {
    const matching = matchingOrders(context, rule.orderCount.filter);
    return compareScalar(matching.length, rule.orderCount.op, rule.orderCount.value);
  }
  if ('orderTotal' in rule) {
    const total = matchingOrders(context, rule.orderTotal.filter).reduce((sum, o) => sum + o.totalCents, 0);
    return compareScalar(total, rule.orderTotal.op, rule.orderTotal.value);
  }
  if ('lastOrder' in rule) {
    const { filter, olderThanDays, withinDays } = rule.lastOrder;
    const times = matchingOrders(context, filter).map((o) => o.createdAt.getTime());
    if (times.length === 0) return false;
    const last = Math.max(...times);
    const asOf = context.asOf.getTime();
    if (olderThanDays !== undefined && !(last < asOf - olderThanDays * DAY_MS)) return false;
    if (withinDays !== undefined && !(last >= asOf - withinDays * DAY_MS)) return false;
    return true;
  }
  if ('attribute' in rule) return attributeMatches(customer, rule.attribute);
  return context.isMember(rule.inSegment);
}

function matchingOrders(context: EvaluationContext, filter: OrderFilter | undefined): OrderFacts[] {
  const asOf = context.asOf.getTime();
  return context.orders.filter((o) => {
    const t = o.createdAt.getTime();
    if (filter?.storeIds && !filter.storeIds.includes(o.storeId)) return false;
    if (filter?.withinDays !== undefined && t < asOf - filter.withinDays * DAY_MS) return false;
    if (filter?.since && t < Date.parse(filter.since)) return false;
    if (filter?.until && t >= Date.parse(filter.until)) return false;
    return true;
  });
}


/** Postgres' `->>`: the JSON value as text, null for JSON null or a missing key. */
function attributeText(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function attributeMatches(customer: CustomerFacts, { field, op, value, values }: AttributeCondition): boolean {
  if (field === 'createdAt') {
    if (!customer.createdAt) return false;
    return compareScalar(customer.createdAt.getTime(), op as ScalarComparison, Date.parse(value!));
  }
  const raw = field.startsWith('attributes.') ? customer.attributes[field.slice('attributes.'.length)] : field === 'country' ? customer.country : customer.city;
  if (op === 'GT' || op === 'GTE' || op === 'LT' || op === 'LTE') {
    return typeof raw === 'number' && compareScalar(raw, op, Number(value));
  }
  const text = attributeText(raw);
  if (text === null) return false;
  switch (op) {
    case 'EQ':
      return text === value;
    case 'NEQ':
      return text !== value;
    case 'IN':
      return values!.includes(text);
    case 'NOT_IN':
      return !values!.includes(text);
  }
}
