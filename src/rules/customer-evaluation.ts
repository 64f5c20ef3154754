import { DAY_MICROS } from './rule.js';
import type { CompiledRules, CompiledSegment, CustomerInput, OrderAggregateValue, OrderInput, RuleScope } from './compiled-rules.js';

const NO_ORDERS: readonly OrderInput[] = [];

/**
 * One customer evaluated against compiled rules as of one instant: each
 * distinct filter's aggregate is computed at most once, from the orders of
 * the filter's stores only, however many segments read it. `members` holds
 * the customer's current memberships of the segments read and evaluated, and
 * is updated as segments are evaluated, so a segment evaluated after those
 * it reads (dependency levels) sees their new answer.
 */
export class CustomerEvaluation implements RuleScope {
  readonly asOfMicros: number;
  /** Distinct aggregates computed so far: the cost model's unit. */
  aggregatesComputed = 0;
  private readonly byStore = new Map<string, OrderInput[]>();
  private readonly aggregates = new Map<number, OrderAggregateValue>();

  constructor(
    private readonly rules: CompiledRules,
    asOf: Date,
    readonly customer: CustomerInput,
    private readonly orders: readonly OrderInput[],
    private readonly members: Set<number>,
  ) {
    this.asOfMicros = asOf.getTime() * 1000;
    for (const order of orders) {
      let list = this.byStore.get(order.storeId);
      if (!list) this.byStore.set(order.storeId, (list = []));
      list.push(order);
    }
  }

  /** The segment's verdict for this customer; the membership set follows it. */
  evaluate(segment: CompiledSegment): boolean {
    const member = segment.test(this);
    if (member) this.members.add(segment.id);
    else this.members.delete(segment.id);
    return member;
  }

  isMember(segmentId: number): boolean {
    return this.members.has(segmentId);
  }

  aggregate(index: number): OrderAggregateValue {
    const known = this.aggregates.get(index);
    if (known) return known;
    const filter = this.rules.filter(index);
    let lower = -Infinity;
    if (filter.withinDays !== null) lower = this.asOfMicros - filter.withinDays * DAY_MICROS;
    if (filter.sinceMicros !== null) lower = Math.max(lower, filter.sinceMicros);
    const upper = filter.untilMicros ?? Infinity;
    const value: OrderAggregateValue = { count: 0, totalCents: 0, latestMicros: -Infinity };
    const add = (orders: readonly OrderInput[]) => {
      for (const order of orders) {
        const t = order.createdAtMicros;
        if (t < lower || t >= upper) continue;
        value.count++;
        value.totalCents += order.totalCents;
        if (t > value.latestMicros) value.latestMicros = t;
      }
    };
    if (filter.storeIds === null) add(this.orders);
    else for (const store of filter.storeIds) add(this.byStore.get(store) ?? NO_ORDERS);
    this.aggregates.set(index, value);
    this.aggregatesComputed++;
    return value;
  }
}
