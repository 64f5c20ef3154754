import { instantMicros } from './instant-micros.js';
import { conditionsOf, DAY_MICROS, referencedSegments, type OrderFilter, type Rule } from './rule.js';

/** Which stores' orders a rule reads: some stores, or orders from any store. */
export type StoreScope = { any: true } | { any: false; storeIds: Set<string> };

/** The stores whose orders can change the rule's outcome; null when it reads no orders. */
export function storeScope(rule: Rule): StoreScope | null {
  const filters: Array<OrderFilter | undefined> = [];
  const visit = (node: Rule): void => {
    if ('all' in node) node.all.forEach(visit);
    else if ('any' in node) node.any.forEach(visit);
    else if ('not' in node) visit(node.not);
    else if ('orderCount' in node) filters.push(node.orderCount.filter);
    else if ('orderTotal' in node) filters.push(node.orderTotal.filter);
    else if ('lastOrder' in node) filters.push(node.lastOrder.filter);
  };
  visit(rule);
  if (filters.length === 0) return null;
  if (filters.some((f) => !f?.storeIds)) return { any: true };
  return { any: false, storeIds: new Set(filters.flatMap((f) => f!.storeIds!)) };
}

/**
 * The lower bound of one order condition: it reads orders created at or after
 * the later of `sinceMicros` and the time of computation less `days` (either
 * may be absent, not both).
 */
export interface OrderLowerBound {
  days: number | null;
  sinceMicros: number | null;
}

/**
 * How far back a rule's order conditions read: the lower bound of each, or
 * null when one of them reads the whole history (a filter without
 * `withinDays` or `since`, lastOrder's `olderThanDays` alone) or the rule
 * reads no orders. An order older than every bound cannot change the rule.
 */
export function orderLowerBounds(rule: Rule): OrderLowerBound[] | null {
  const bounds: OrderLowerBound[] = [];
  let unbounded = false;
  const add = (filter: OrderFilter | undefined, withinDays?: number) => {
    const days = [filter?.withinDays, withinDays].filter((d): d is number => d !== undefined);
    const since = filter?.since === undefined ? null : instantMicros(filter.since);
    // An instant out of range: evaluated with every change (and quarantined by the compiler).
    if ((days.length === 0 && since === null) || (filter?.since !== undefined && since === null)) unbounded = true;
    else bounds.push({ days: days.length === 0 ? null : Math.min(...days), sinceMicros: since });
  };
  for (const condition of conditionsOf(rule)) {
    if ('orderCount' in condition) add(condition.orderCount.filter);
    else if ('orderTotal' in condition) add(condition.orderTotal.filter);
    // The latest order inside `withinDays` decides; an older one cannot (olderThanDays alone reads any).
    else if ('lastOrder' in condition) add(condition.lastOrder.filter, condition.lastOrder.withinDays);
  }
  return unbounded || bounds.length === 0 ? null : bounds;
}

/** The earliest order time (microseconds) that `bounds` read as of `asOfMicros`. */
function earliestRead(bounds: readonly OrderLowerBound[], asOfMicros: number): number {
  let earliest = Infinity;
  for (const { days, sinceMicros } of bounds) {
    const lower = Math.max(days === null ? -Infinity : asOfMicros - days * DAY_MICROS, sinceMicros ?? -Infinity);
    earliest = Math.min(earliest, lower);
  }
  return earliest;
}

/** When the orders of a change were created: the newest of them, and the time of computation. */
export interface ChangedOrdersTime {
  newestOrderMicros: number;
  asOfMicros: number;
}

/**
 * Answers "which segments can a new order of this customer change?" without
 * looking at the others: segments whose rules read orders from one of the
 * customer's stores (or from any store), and, transitively, the segments
 * whose rules read those through inSegment. Pure; the workers rebuild it when
 * segments change.
 */
export class RuleIndex {
  private readonly ids = new Set<number>();
  private readonly anyStore = new Set<number>();
  private readonly byStore = new Map<string, Set<number>>();
  private readonly byField = new Map<string, Set<number>>();
  /** Segments whose order conditions all have a lower bound (the others read any order time). */
  private readonly lowerBounds = new Map<number, OrderLowerBound[]>();
  private readonly dependents = new Map<number, Set<number>>();
  private readonly dependencies = new Map<number, number[]>();
  private readonly levels = new Map<number, number>();

  constructor(segments: ReadonlyArray<{ id: number; rule: Rule }>) {
    for (const { id, rule } of segments) {
      this.ids.add(id);
      const scope = storeScope(rule);
      if (scope?.any) this.anyStore.add(id);
      else if (scope) for (const store of scope.storeIds) this.add(this.byStore, store, id);
      const bounds = scope && orderLowerBounds(rule);
      if (bounds) this.lowerBounds.set(id, bounds);
      for (const field of attributeFields(rule)) this.add(this.byField, field, id);
      const deps = [...referencedSegments(rule)].map(Number);
      this.dependencies.set(id, deps);
      for (const dep of deps) this.add(this.dependents, dep, id);
    }
  }

  get size(): number {
    return this.ids.size;
  }

  /**
   * The segments a change of orders at `stores` can change: those whose rules
   * read one of the stores (or any store), and, transitively, the segments
   * that read those through inSegment. `null` stands for a change of the
   * customer itself, which any segment can depend on. With `time`, a segment
   * whose every order condition reads only orders newer than the newest
   * changed order is left out: the change cannot reach its windows.
   */
  affectedSegments(stores: Iterable<string> | null, time?: ChangedOrdersTime): Set<number> {
    if (stores === null) return new Set(this.ids);
    const affected = new Set<number>();
    const reaches = (id: number) => {
      const bounds = time && this.lowerBounds.get(id);
      return !bounds || time.newestOrderMicros >= earliestRead(bounds, time.asOfMicros);
    };
    for (const id of this.anyStore) if (reaches(id)) affected.add(id);
    for (const store of stores) for (const id of this.byStore.get(store) ?? []) if (reaches(id)) affected.add(id);
    return this.withDependents(affected);
  }

  /**
   * The segments a change of these customer columns (`country`, `city`,
   * `createdAt`, `attributes.<key>`) can change: those whose rules compare
   * one of them, and what reads those through inSegment.
   */
  affectedByFields(fields: Iterable<string>): Set<number> {
    const affected = new Set<number>();
    for (const field of fields) for (const id of this.byField.get(field) ?? []) affected.add(id);
    return this.withDependents(affected);
  }

  /** `ids` (those indexed) and every segment that reads one of them through inSegment, transitively. */
  withDependents(ids: Iterable<number>): Set<number> {
    const result = new Set<number>();
    const queue: number[] = [];
    for (const id of ids) {
      if (this.ids.has(id) && !result.has(id)) {
        result.add(id);
        queue.push(id);
      }
    }
    while (queue.length > 0) {
      for (const dependent of this.dependents.get(queue.pop()!) ?? []) {
        if (!result.has(dependent)) {
          result.add(dependent);
          queue.push(dependent);
        }
      }
    }
    return result;
  }

  /**
   * The dependency level of a segment: 0 when it reads no indexed segment,
   * otherwise one more than the highest level it reads. Evaluating levels in
   * order means every segment sees the new memberships of those it reads.
   */
  levelOf(id: number): number {
    const known = this.levels.get(id);
    if (known !== undefined) return known;
    const deps = (this.dependencies.get(id) ?? []).filter((dep) => this.ids.has(dep));
    const value = deps.length === 0 ? 0 : 1 + Math.max(...deps.map((dep) => this.levelOf(dep))); // the graph has no cycles
    this.levels.set(id, value);
    return value;
  }

  /** Groups segments by dependency level, lowest first, each level sorted by id. */
  byLevel(ids: Iterable<number>): number[][] {
    const levels: number[][] = [];
    for (const id of [...ids].sort((a, b) => a - b)) (levels[this.levelOf(id)] ??= []).push(id);
    return levels.filter(Boolean);
  }

  /** The segments an order at `stores` can change, in dependency levels. */
  affectedBy(stores: Iterable<string>): number[][] {
    return this.byLevel(this.affectedSegments(stores));
  }

  private add(map: Map<string | number, Set<number>>, key: string | number, id: number): void {
    let set = map.get(key);
    if (!set) map.set(key, (set = new Set()));
    set.add(id);
  }
}

/** The customer columns a rule compares, as attribute conditions name them. */
export function attributeFields(rule: Rule): Set<string> {
  const fields = new Set<string>();
  for (const condition of conditionsOf(rule)) if ('attribute' in condition) fields.add(condition.attribute.field);
  return fields;
}
