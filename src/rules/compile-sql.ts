import { conditionsOf, DAY_MS, type AttributeCondition, type Condition, type OrderFilter, type Rule, type ScalarComparison } from './rule.js';

/** A parameterized statement for pg: values travel separately from the text. */
export interface SqlQuery {
  text: string;
  values: unknown[];
}

export interface CompileOptions {
  /** The time of computation: relative windows are measured back from it. */
  asOf: Date;
  /**
   * Evaluate only these customers (the event path) instead of the whole
   * customer base. The same SQL shape, with every scan narrowed to them.
   */
  customerIds?: readonly string[];
  /**
   * With `customerIds`: read the customers' orders once and compute every
   * filter's aggregates in one pass (FILTER clauses), instead of one derived
   * table per filter. Best for a batch of customers against many segments.
   */
  singlePass?: boolean;
}

const SQL_COMPARISON: Record<ScalarComparison, string> = { EQ: '=', NEQ: '<>', GT: '>', GTE: '>=', LT: '<', LTE: '<=' };

/**
 * Rules become set-based SQL: every condition that reads another table is a
 * LEFT JOIN of a per-customer derived table (order aggregates grouped by
 * customer, members of a segment), computed once per distinct filter however
 * many conditions share it, and the rule tree becomes a boolean expression
 * over the joined columns. Postgres runs it as hash joins over whole tables,
 * never a subquery per customer. Every user value is a bind parameter, so no
 * input can change the statement.
 */
class RuleCompiler {
  readonly values: unknown[] = [];
  private readonly membershipJoins: Array<{ segmentId: string; table: string }> = [];
  private readonly aggregates = new Map<string, { alias: string; filter: OrderFilter | undefined; columns: Set<'n' | 'total' | 'last'> }>();
  /** The derived table every member must have a row in (see `requiredSource`): joined, not left-joined. */
  private required: string | null = null;
  private readonly memberships = new Map<string, string>();
  private readonly customerIdsParam: string | null;

  constructor(private readonly options: CompileOptions) {
    this.customerIdsParam = options.customerIds ? this.param(options.customerIds, 'text[]') : null;
  }

  param(value: unknown, type: string): string {
    this.values.push(value);
    return `$${this.values.length}::${type}`;
  }

  /**
   * Marks a derived table (an order aggregate, a segment's members) as one
   * every member has a row in, so the statement starts from those rows
   * instead of scanning every customer ("ordered at least 3 times" reads the
   * orders of the stores named, "in segment 2" its members, not a million
   * customers).
   */
  require(source: RequiredSource): void {
    this.required = sourceKey(source);
  }

  /** The conditions of an order filter on `orders` columns. */
  private filterConditions(filter: OrderFilter | undefined): string[] {
    const where: string[] = [];
    if (filter?.storeIds) where.push(`store_id = ANY(${this.param(filter.storeIds, 'text[]')})`);
    if (filter?.withinDays !== undefined) where.push(`created_at >= ${this.cutoff(filter.withinDays)}`);
    if (filter?.since) where.push(`created_at >= ${this.param(filter.since, 'timestamptz')}`);
    if (filter?.until) where.push(`created_at < ${this.param(filter.until, 'timestamptz')}`);
    return where;
  }

  /**
   * The single-pass form (many segments for a batch of customers): the
   * batch's orders are read once, through the customer index, and every
   * distinct filter is one FILTER clause of one GROUP BY, instead of one scan
   * of the same orders per filter.
   */
  private singlePassJoin(): string[] {
    if (this.aggregates.size === 0) return [];
    const columns = [...this.aggregates.values()].flatMap(({ alias, filter, columns: used }) => {
      const conditions = this.filterConditions(filter);
      const only = conditions.length ? ` FILTER (WHERE ${conditions.join(' AND ')})` : '';
      const i = alias.slice(1);
      return [
        used.has('n') ? `count(*)${only} AS n${i}` : null,
        used.has('total') ? `sum(total_cents)${only} AS total${i}` : null,
        used.has('last') ? `max(created_at)${only} AS last${i}` : null,
      ].filter(Boolean);
    });
    return [
      `LEFT JOIN (SELECT customer_id, ${columns.join(', ')}
         FROM orders WHERE customer_id = ANY(${this.customerIdsParam}) GROUP BY customer_id) ag
        ON ag.customer_id = c.id`,
    ];
  }

  /** FROM and WHERE clauses shared by both query shapes. */
  from(): string {
    const aggregateJoins = this.options.singlePass && this.customerIdsParam ? this.singlePassJoin() : this.perFilterJoins();
    const membershipJoins = this.membershipJoins.map(
      ({ segmentId, table }) => `${this.required === `segment:${segmentId}` ? 'JOIN' : 'LEFT JOIN'} ${table}`,
    );
    return ['FROM customers c', ...aggregateJoins, ...membershipJoins].join('\n');
  }

  /** One derived table per distinct filter: each reads only the orders it needs (the store index for a store filter). */
  private perFilterJoins(): string[] {
    return [...this.aggregates].map(([key, { alias, filter, columns }]) => {
      const where: string[] = [];
      if (this.customerIdsParam) where.push(`customer_id = ANY(${this.customerIdsParam})`);
      where.push(...this.filterConditions(filter));
      // Only the aggregates read: "latest order" alone is a max over the customer index.
      const selected = [
        columns.has('n') ? 'count(*) AS n' : null,
        columns.has('total') ? 'sum(total_cents) AS total' : null,
        columns.has('last') ? 'max(created_at) AS last' : null,
      ].filter(Boolean);
      return `${key === this.required ? 'JOIN' : 'LEFT JOIN'} (SELECT customer_id, ${selected.join(', ')}
         FROM orders WHERE ${where.length ? where.join(' AND ') : 'true'} GROUP BY customer_id) ${alias}
        ON ${alias}.customer_id = c.id`;
    });
  }

  customerFilter(): string {
    return this.customerIdsParam ? `c.id = ANY(${this.customerIdsParam})` : 'true';
  }

  predicate(rule: Rule): string {
    if ('all' in rule) return `(${rule.all.map((r) => this.predicate(r)).join(' AND ')})`;
    if ('any' in rule) return `(${rule.any.map((r) => this.predicate(r)).join(' OR ')})`;
    if ('not' in rule) return `(NOT ${this.predicate(rule.not)})`;
    if ('orderCount' in rule) {
      const { filter, op, value } = rule.orderCount;
      return `(coalesce(${this.aggregate(filter, 'n')}, 0) ${SQL_COMPARISON[op]} ${this.param(value, 'bigint')})`;
    }
    if ('orderTotal' in rule) {
      const { filter, op, value } = rule.orderTotal;
      return `(coalesce(${this.aggregate(filter, 'total')}, 0) ${SQL_COMPARISON[op]} ${this.param(value, 'numeric')})`;
    }
    if ('lastOrder' in rule) {
      const { filter, olderThanDays, withinDays } = rule.lastOrder;
      const last = this.aggregate(filter, 'last');
      const conditions = [`${last} IS NOT NULL`];
      if (olderThanDays !== undefined) conditions.push(`${last} < ${this.cutoff(olderThanDays)}`);
      if (withinDays !== undefined) conditions.push(`${last} >= ${this.cutoff(withinDays)}`);
      return `(${conditions.join(' AND ')})`;
    }
    if ('attribute' in rule) return `coalesce(${this.attribute(rule.attribute)}, false)`;
    return `(${this.membership(rule.inSegment)}.customer_id IS NOT NULL)`;
  }

  /**
   * The customer's value a condition compares, as text: the aggregate its
   * predicate reads (the same derived-table column), the attribute as `->>`
   * reads it, instants as RFC 3339 UTC with milliseconds, 'true' or 'false'
   * for an inSegment. NULL when there is none (no matching order, a missing
   * attribute).
   */
  actual(condition: Condition): string {
    if ('orderCount' in condition) return `coalesce(${this.aggregate(condition.orderCount.filter, 'n')}, 0)::text`;
    if ('orderTotal' in condition) return `coalesce(${this.aggregate(condition.orderTotal.filter, 'total')}, 0)::text`;
    if ('lastOrder' in condition) return rfc3339(this.aggregate(condition.lastOrder.filter, 'last'));
    if ('attribute' in condition) {
      return condition.attribute.field === 'createdAt' ? rfc3339('c.created_at') : this.attributeColumn(condition.attribute.field).column;
    }
    return `(${this.membership(condition.inSegment)}.customer_id IS NOT NULL)::text`;
  }

  private cutoff(days: number): string {
    return this.param(new Date(this.options.asOf.getTime() - days * DAY_MS).toISOString(), 'timestamptz');
  }

  /**
   * The alias of the derived table aggregating orders that match `filter`,
   * computed once however many conditions share it.
   */
  private aggregate(filter: OrderFilter | undefined, column: 'n' | 'total' | 'last'): string {
    const key = JSON.stringify(filter ?? {});
    let entry = this.aggregates.get(key);
    if (!entry) {
      entry = { alias: `a${this.aggregates.size}`, filter, columns: new Set() };
      this.aggregates.set(key, entry);
    }
    entry.columns.add(column);
    // One pass: every aggregate is a column of the single derived table `ag`.
    if (this.options.singlePass) return `ag.${column}${entry.alias.slice(1)}`;
    return `${entry.alias}.${column}`;
  }

  /** The alias of the derived table of a segment's members. */
  private membership(segmentId: string): string {
    const existing = this.memberships.get(segmentId);
    if (existing) return existing;
    const alias = `s${this.memberships.size}`;
    this.memberships.set(segmentId, alias);
    const scope = this.customerIdsParam ? ` AND customer_id = ANY(${this.customerIdsParam})` : '';
    // Joined or left-joined once the whole rule is known (see from()).
    this.membershipJoins.push({
      segmentId,
      table: `(SELECT customer_id FROM segment_memberships
         WHERE segment_id = ${this.param(Number(segmentId), 'int')}${scope}) ${alias}
        ON ${alias}.customer_id = c.id`,
    });
    return alias;
  }

  /** The text column of `country`, `city` or `attributes.<key>` (with the key's parameter, for custom attributes). */
  private attributeColumn(field: string): { column: string; key: string | null } {
    const key = field.startsWith('attributes.') ? this.param(field.slice('attributes.'.length), 'text') : null;
    return { column: key ? `(c.attributes ->> ${key})` : field === 'country' ? 'c.country' : 'c.city', key };
  }

  private attribute({ field, op, value, values }: AttributeCondition): string {
    if (field === 'createdAt') return `(c.created_at ${SQL_COMPARISON[op as ScalarComparison]} ${this.param(value, 'timestamptz')})`;
    const { column, key } = this.attributeColumn(field);
    switch (op) {
      case 'IN':
        return `(${column} = ANY(${this.param(values, 'text[]')}))`;
      case 'NOT_IN':
        return `(${column} <> ALL(${this.param(values, 'text[]')}))`;
      case 'EQ':
      case 'NEQ':
        return `(${column} ${SQL_COMPARISON[op]} ${this.param(value, 'text')})`;
      default:
        // Ordered comparisons on custom attributes are numeric and apply only
        // to JSON numbers; anything else leaves the condition false.
        return `(CASE WHEN jsonb_typeof(c.attributes -> ${key}) = 'number' THEN ${column}::numeric END ${SQL_COMPARISON[op]} ${this.param(value, 'numeric')})`;
    }
  }
}

/** An instant as RFC 3339 UTC with milliseconds, whatever the session's time zone. */
const rfc3339 = (instant: string) => `to_char(${instant} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** `SELECT customer_id` of every customer (or every one of `customerIds`) that matches the rule. */
export function compileMembersQuery(rule: Rule, options: CompileOptions): SqlQuery {
  const compiler = new RuleCompiler(options);
  const predicate = compiler.predicate(rule);
  const required = requiredSource(rule);
  if (required) compiler.require(required);
  return {
    text: `SELECT c.id AS customer_id\n${compiler.from()}\nWHERE ${compiler.customerFilter()} AND ${predicate}`,
    values: compiler.values,
  };
}

/** A derived table every member of a rule has a row in: matching orders, or another segment's members. */
export type RequiredSource = { filter: OrderFilter | undefined } | { segmentId: string };

const sourceKey = (source: RequiredSource) => ('segmentId' in source ? `segment:${source.segmentId}` : JSON.stringify(source.filter ?? {}));

/**
 * A source every customer the rule selects has a row in, when there is one:
 * matching orders for a count or total that 0 fails, or for a latest order;
 * the members of the segment of an inSegment; for `all`, any child's; for
 * `any`, one that every child needs; none for `not` and attributes.
 * Soundness: the rule is false for every customer without such a row.
 */
export function requiredSource(rule: Rule): RequiredSource | null {
  if ('all' in rule) {
    for (const child of rule.all) {
      const required = requiredSource(child);
      if (required) return required;
    }
    return null;
  }
  if ('any' in rule) {
    const each = rule.any.map(requiredSource);
    const first = each[0];
    if (!first || each.some((r) => !r || sourceKey(r) !== sourceKey(first))) return null;
    return first;
  }
  if ('orderCount' in rule || 'orderTotal' in rule) {
    const { filter, op, value } = 'orderCount' in rule ? rule.orderCount : rule.orderTotal;
    const zeroHolds = { EQ: value === 0, NEQ: value !== 0, GT: 0 > value, GTE: 0 >= value, LT: 0 < value, LTE: 0 <= value }[op];
    return zeroHolds ? null : { filter };
  }
  if ('lastOrder' in rule) return { filter: rule.lastOrder.filter };
  if ('inSegment' in rule) return { segmentId: rule.inSegment };
  return null;
}

export interface ExplanationOptions {
  /** The time of computation: relative windows are measured back from it. */
  asOf: Date;
  /** The one customer explained. */
  customerId: string;
}

/**
 * One customer's verdict on a rule and the facts behind it, in one statement
 * of the event path's form (one customer, the customer's orders read once):
 * `member` is the rule's predicate; for the i-th condition of
 * `conditionsOf(rule)`, `h<i>` is that condition's own predicate and `v<i>`
 * the value it compares (see `actual`). Conditions read the same derived
 * tables as `member`, so the facts cannot drift from the verdict. No row when
 * the customer is not in `customers`: such a customer is a member of no rule.
 */
export function compileExplanationQuery(rule: Rule, { asOf, customerId }: ExplanationOptions): SqlQuery {
  const compiler = new RuleCompiler({ asOf, customerIds: [customerId], singlePass: true });
  const member = compiler.predicate(rule);
  const columns = conditionsOf(rule).map((condition, i) => `,\n  ${compiler.predicate(condition)} AS h${i}, ${compiler.actual(condition)} AS v${i}`);
  return {
    text: `SELECT ${member} AS member${columns.join('')}\n${compiler.from()}\nWHERE ${compiler.customerFilter()}`,
    values: compiler.values,
  };
}
