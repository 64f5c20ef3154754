import { referencedSegments, type OrderFilter, type Rule } from './rule.js';

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
 * Answers "which segments can a new order of this customer change?" without
 * looking at the others: segments whose rules read orders from one of the
 * customer's stores (or from any store), and, transitively, the segments
 * whose rules read those through inSegment. Pure; the workers rebuild it when
 * segments change.
 */
export class RuleIndex {
  private readonly anyStore = new Set<number>();
  private readonly byStore = new Map<string, Set<number>>();
  private readonly dependents = new Map<number, Set<number>>();
  private readonly dependencies = new Map<number, number[]>();

  constructor(segments: ReadonlyArray<{ id: number; rule: Rule }>) {
    for (const { id, rule } of segments) {
      const scope = storeScope(rule);
      if (scope?.any) this.anyStore.add(id);
      else if (scope) for (const store of scope.storeIds) this.add(this.byStore, store, id);
      const deps = [...referencedSegments(rule)].map(Number);
      this.dependencies.set(id, deps);
      for (const dep of deps) this.add(this.dependents, dep, id);
    }
  }

  /**
   * The segments an order of a customer who has ordered from `stores` can
   * change, in dependency levels: every segment comes after the segments it
   * reads that are also affected.
   */
  affectedBy(stores: Iterable<string>): number[][] {
    const affected = new Set(this.anyStore);
    for (const store of stores) for (const id of this.byStore.get(store) ?? []) affected.add(id);
    const queue = [...affected];
    while (queue.length > 0) {
      for (const dependent of this.dependents.get(queue.pop()!) ?? []) {
        if (!affected.has(dependent)) {
          affected.add(dependent);
          queue.push(dependent);
        }
      }
    }
    // Level = longest chain of affected dependencies below the segment (the graph has no cycles).
    const level = new Map<number, number>();
    const levelOf = (id: number): number => {
      const known = level.get(id);
      if (known !== undefined) return known;
      const deps = (this.dependencies.get(id) ?? []).filter((dep) => affected.has(dep));
      const value = deps.length === 0 ? 0 : 1 + Math.max(...deps.map(levelOf));
      level.set(id, value);
      return value;
    };
    const levels: number[][] = [];
    for (const id of [...affected].sort((a, b) => a - b)) (levels[levelOf(id)] ??= []).push(id);
    return levels.filter(Boolean);
  }

  private add(map: Map<string | number, Set<number>>, key: string | number, id: number): void {
    let set = map.get(key);
    if (!set) map.set(key, (set = new Set()));
    set.add(id);
  }
}
