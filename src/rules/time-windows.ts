import type { OrderFilter, Rule } from './rule.js';

/**
 * A relative window of a rule: membership can change as time passes, without
 * any order, only when an order (of `storeIds`, or of any store) crosses the
 * window's edge, `days` before the time of computation. Between two instants
 * t0 < t1 those are the orders created in [t0 - days, t1 - days).
 */
export interface TimeWindow {
  days: number;
  /** Sorted; absent when the window applies to orders of any store. */
  storeIds?: string[];
}

/**
 * The relative windows of a rule (`withinDays` of a filter, `olderThanDays`
 * and `withinDays` of lastOrder), without duplicates. Absolute bounds
 * (`since`, `until`, createdAt) never move, and a rule without relative
 * windows changes only when data or the rule changes.
 */
export function timeWindows(rule: Rule): TimeWindow[] {
  const windows = new Map<string, TimeWindow>();
  const add = (days: number | undefined, filter: OrderFilter | undefined) => {
    if (days === undefined) return;
    const window: TimeWindow = filter?.storeIds ? { days, storeIds: filter.storeIds } : { days };
    windows.set(JSON.stringify(window), window);
  };
  const visit = (node: Rule): void => {
    if ('all' in node) node.all.forEach(visit);
    else if ('any' in node) node.any.forEach(visit);
    else if ('not' in node) visit(node.not);
    else if ('orderCount' in node) add(node.orderCount.filter?.withinDays, node.orderCount.filter);
    else if ('orderTotal' in node) add(node.orderTotal.filter?.withinDays, node.orderTotal.filter);
    else if ('lastOrder' in node) {
      const { filter, olderThanDays, withinDays } = node.lastOrder;
      add(filter?.withinDays, filter);
      add(olderThanDays, filter);
      add(withinDays, filter);
    }
  };
  visit(rule);
  return [...windows.values()];
}
