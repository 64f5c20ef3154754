import { compareDecimalText } from './decimal-text.js';
import { instantMicros } from './instant-micros.js';
import { compareScalar, DAY_MICROS, DAY_MS, type AttributeCondition, type OrderFilter, type Rule, type ScalarComparison } from './rule.js';

/**
 * Rules compiled for the event path: each rule becomes a function over one
 * customer's facts, and every distinct order filter of every rule becomes one
 * aggregate (count, total, latest) that all the conditions reading it share,
 * so "inactive 30 days" and "inactive 60 days", or three thresholds on one
 * store set, read the customer's orders once. The semantics are those of the
 * SQL compiler (compile-sql.ts), to the microsecond and to the last digit of
 * a numeric attribute; property tests hold the two, and the reference
 * evaluator, to the same answers.
 */

/** A customer's row, as the event path reads it. */
export interface CustomerInput {
  /** `created_at` in microseconds since the epoch; null when unknown. */
  createdAtMicros: number | null;
  country: string | null;
  city: string | null;
  /** For each attribute key the rules read that the customer has: its `jsonb_typeof` and its `->>` text. */
  attributes: Readonly<Record<string, readonly [type: string, text: string | null]>>;
}

/** An order, as the event path reads it. */
export interface OrderInput {
  storeId: string;
  totalCents: number;
  /** `created_at` in microseconds since the epoch. */
  createdAtMicros: number;
}

/** The orders a filter matches for one customer, aggregated. */
export interface OrderAggregateValue {
  count: number;
  totalCents: number;
  /** The latest matching `created_at`, in microseconds; -Infinity without a matching order. */
  latestMicros: number;
}

/** What a compiled rule reads of one customer. */
export interface RuleScope {
  /** The time of computation, in microseconds. */
  readonly asOfMicros: number;
  readonly customer: CustomerInput;
  aggregate(filter: number): OrderAggregateValue;
  isMember(segmentId: number): boolean;
}

/** A distinct order filter, its instants resolved to microseconds. */
export interface CompiledFilter {
  /** Sorted store ids; null for any store. */
  storeIds: readonly string[] | null;
  withinDays: number | null;
  sinceMicros: number | null;
  untilMicros: number | null;
}

export interface CompiledSegment {
  id: number;
  version: number;
  test: (scope: RuleScope) => boolean;
  /** Indexes of the filters the rule reads (see CompiledRules.filter). */
  filters: readonly number[];
  /** Attribute keys the rule reads (`attributes.<key>` without the prefix). */
  attributeKeys: readonly string[];
  /** Segments the rule reads through inSegment. */
  segmentsRead: readonly number[];
}

/** A rule that cannot be evaluated (a value Postgres would refuse at run time): its segment is quarantined. */
export class RuleEvaluationError extends Error {
  override name = 'RuleEvaluationError';
  /** The SQLSTATE Postgres gives the same value (datetime_field_overflow): a data error, the rule's fault. */
  readonly code = '22008';
}


/** What a set of compiled rules reads of a customer, as of one instant: what a statement must fetch. */
export interface ReadScope {
  /** Stores whose orders count; null for every store. */
  storeIds: string[] | null;
  /** The earliest order any filter can match (millisecond precision, rounded down); null for the whole history. */
  ordersSince: Date | null;
  attributeKeys: string[];
  /** The segments evaluated and those they read through inSegment: their memberships count. */
  segmentIds: number[];
}

/** Compiled rules by segment version, and the distinct filters they share. Long-lived: one per worker. */
export class CompiledRules {
  private readonly filters: CompiledFilter[] = [];
  private readonly filterIds = new Map<string, number>();
  private readonly segments = new Map<number, CompiledSegment>();

  /** The compiled rule of a segment version, compiled on first use; throws RuleEvaluationError. */
  compile(id: number, version: number, rule: Rule): CompiledSegment {
    const known = this.segments.get(id);
    if (known && known.version === version) return known;
    const compiled = new SegmentCompiler(this).compile(id, version, rule);
    this.segments.set(id, compiled);
    return compiled;
  }

  filter(index: number): CompiledFilter {
    return this.filters[index]!;
  }

  /** What `programs` read as of `asOf` (see ReadScope). */
  readScope(programs: Iterable<CompiledSegment>, asOf: Date): ReadScope {
    const stores = new Set<string>();
    let anyStore = false;
    let since: number | null = Infinity;
    const keys = new Set<string>();
    const segments = new Set<number>();
    const filters = new Set<number>();
    for (const program of programs) {
      segments.add(program.id);
      for (const s of program.segmentsRead) segments.add(s);
      for (const k of program.attributeKeys) keys.add(k);
      for (const f of program.filters) filters.add(f);
    }
    for (const f of filters) {
      const filter = this.filters[f]!;
      if (filter.storeIds === null) anyStore = true;
      else for (const s of filter.storeIds) stores.add(s);
      let lower: number | null = null;
      if (filter.withinDays !== null) lower = asOf.getTime() - filter.withinDays * DAY_MS;
      if (filter.sinceMicros !== null) lower = Math.max(lower ?? -Infinity, Math.floor(filter.sinceMicros / 1000));
      since = lower === null || since === null ? null : Math.min(since, lower);
    }
    return {
      storeIds: anyStore ? null : [...stores],
      ordersSince: since === null || since === Infinity ? null : new Date(since),
      attributeKeys: [...keys],
      segmentIds: [...segments],
    };
  }

  /** The index of a filter, shared by every rule with the same filter. */
  filterIndex(filter: OrderFilter | undefined): number {
    const key = JSON.stringify([filter?.storeIds ?? null, filter?.withinDays ?? null, filter?.since ?? null, filter?.until ?? null]);
    let index = this.filterIds.get(key);
    if (index === undefined) {
      index = this.filters.length;
      this.filters.push({
        storeIds: filter?.storeIds ?? null,
        withinDays: filter?.withinDays ?? null,
        sinceMicros: filter?.since === undefined ? null : requireInstant(filter.since),
        untilMicros: filter?.until === undefined ? null : requireInstant(filter.until),
      });
      this.filterIds.set(key, index);
    }
    return index;
  }
}

function requireInstant(value: string): number {
  const instant = instantMicros(value);
  // Postgres' own words for the same value, so that a quarantined segment reads the same whichever path met it.
  if (instant === null) throw new RuleEvaluationError(`date/time field value out of range: "${value}"`);
  return instant;
}


type Test = (scope: RuleScope) => boolean;

class SegmentCompiler {
  private readonly filters = new Set<number>();
  private readonly attributeKeys = new Set<string>();
  private readonly segmentsRead = new Set<number>();

  constructor(private readonly rules: CompiledRules) {}

  compile(id: number, version: number, rule: Rule): CompiledSegment {
    const test = this.node(rule);
    return { id, version, test, filters: [...this.filters], attributeKeys: [...this.attributeKeys], segmentsRead: [...this.segmentsRead] };
  }

  private node(rule: Rule): Test {
    if ('all' in rule) {
      const children = rule.all.map((r) => this.node(r));
      return (s) => children.every((test) => test(s));
    }
    if ('any' in rule) {
      const children = rule.any.map((r) => this.node(r));
      return (s) => children.some((test) => test(s));
    }
    if ('not' in rule) {
      const child = this.node(rule.not);
      return (s) => !child(s);
    }
    if ('orderCount' in rule) {
      const { filter, op, value } = rule.orderCount;
      const f = this.useFilter(filter);
      return (s) => compareScalar(s.aggregate(f).count, op, value);
    }
    if ('orderTotal' in rule) {
      const { filter, op, value } = rule.orderTotal;
      const f = this.useFilter(filter);
      return (s) => compareScalar(s.aggregate(f).totalCents, op, value);
    }
    if ('lastOrder' in rule) {
      const { filter, olderThanDays, withinDays } = rule.lastOrder;
      const f = this.useFilter(filter);
      return (s) => {
        const latest = s.aggregate(f).latestMicros;
        if (latest === -Infinity) return false;
        if (olderThanDays !== undefined && !(latest < s.asOfMicros - olderThanDays * DAY_MICROS)) return false;
        if (withinDays !== undefined && !(latest >= s.asOfMicros - withinDays * DAY_MICROS)) return false;
        return true;
      };
    }
    if ('attribute' in rule) return this.attribute(rule.attribute);
    const segmentId = Number(rule.inSegment);
    this.segmentsRead.add(segmentId);
    return (s) => s.isMember(segmentId);
  }

  private useFilter(filter: OrderFilter | undefined): number {
    const index = this.rules.filterIndex(filter);
    this.filters.add(index);
    return index;
  }

  /** As compile-sql.ts `attribute`, wrapped in coalesce(..., false): a missing value makes the condition false. */
  private attribute({ field, op, value, values }: AttributeCondition): Test {
    if (field === 'createdAt') {
      const bound = requireInstant(value!);
      return (s) => s.customer.createdAtMicros !== null && compareScalar(s.customer.createdAtMicros, op as ScalarComparison, bound);
    }
    let read: (customer: CustomerInput) => { type: string | null; text: string | null };
    if (field.startsWith('attributes.')) {
      const key = field.slice('attributes.'.length);
      this.attributeKeys.add(key);
      read = (c) => {
        const entry = c.attributes[key];
        return entry ? { type: entry[0], text: entry[1] } : { type: null, text: null };
      };
    } else {
      read = field === 'country' ? (c) => ({ type: 'string', text: c.country }) : (c) => ({ type: 'string', text: c.city });
    }
    switch (op) {
      case 'IN': {
        const set = new Set(values);
        return (s) => {
          const { text } = read(s.customer);
          return text !== null && set.has(text);
        };
      }
      case 'NOT_IN': {
        const set = new Set(values);
        return (s) => {
          const { text } = read(s.customer);
          return text !== null && !set.has(text);
        };
      }
      case 'EQ':
        return (s) => read(s.customer).text === value;
      case 'NEQ':
        return (s) => {
          const { text } = read(s.customer);
          return text !== null && text !== value;
        };
      default:
        // Ordered comparisons apply to JSON numbers only, compared as numeric.
        return (s) => {
          const { type, text } = read(s.customer);
          if (type !== 'number' || text === null) return false;
          const order = compareDecimalText(text, value!);
          return order !== null && compareScalar(order, op, 0);
        };
    }
  }
}
