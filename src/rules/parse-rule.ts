import { z } from 'zod';
import { parseSegmentId } from '../domain/segment-id.js';
import { parseDateTime } from './date-time.js';
import {
  RULE_LIMITS,
  RULE_NODE_KINDS,
  type AttributeCondition,
  type OrderAggregate,
  type OrderFilter,
  type Recency,
  type Rule,
} from './rule.js';

/** One thing wrong with a rule, at a path such as `all[0].orderCount.value`. */
export interface RuleIssue {
  path: string;
  message: string;
}

export type ParseRuleResult = { ok: true; rule: Rule } | { ok: false; issues: RuleIssue[] };

const FIELD_PATTERN = /^(country|city|createdAt|attributes\.[A-Za-z0-9_-]{1,64})$/;

const days = z
  .number()
  .int()
  .min(0, 'must not be negative')
  .max(RULE_LIMITS.maxDays, `must be at most ${RULE_LIMITS.maxDays} days`);
const text = z.string().min(1, 'must not be empty').max(RULE_LIMITS.maxStringLength, `must be at most ${RULE_LIMITS.maxStringLength} characters`);
const list = z
  .array(text)
  .min(1, 'must not be empty')
  .max(RULE_LIMITS.maxListLength, `must have at most ${RULE_LIMITS.maxListLength} entries`);
// GraphQL gives Date objects for DateTime inputs; JSON stored rules give ISO strings.
const instant = z.unknown().transform((value, ctx) => {
  const date = value instanceof Date ? value : typeof value === 'string' ? parseDateTime(value) : null;
  if (date && !Number.isNaN(date.getTime())) return date;
  ctx.addIssue({ code: 'custom', message: 'must be an RFC 3339 date-time on the calendar' });
  return z.NEVER;
});
const optional = <T extends z.ZodType>(schema: T) => schema.nullish().transform((v) => v ?? undefined);

const filterSchema = z
  .object({
    storeIds: optional(list),
    withinDays: optional(days),
    since: optional(instant),
    until: optional(instant),
  })
  .superRefine((f, ctx) => {
    if (f.since && f.until && f.since >= f.until) ctx.addIssue({ code: 'custom', path: ['until'], message: 'must be after since' });
  });

const scalarOp = z.enum(['EQ', 'NEQ', 'GT', 'GTE', 'LT', 'LTE'], {
  message: 'must be EQ, NEQ, GT, GTE, LT or LTE: order aggregates compare one number',
});

const aggregateSchema = z.object({
  filter: optional(filterSchema),
  op: scalarOp,
  value: z.number().int().min(0, 'must not be negative'),
});

const recencySchema = z
  .object({ filter: optional(filterSchema), olderThanDays: optional(days), withinDays: optional(days) })
  .superRefine((r, ctx) => {
    if (r.olderThanDays === undefined && r.withinDays === undefined) {
      ctx.addIssue({ code: 'custom', path: [], message: 'needs olderThanDays, withinDays or both' });
    } else if (r.olderThanDays !== undefined && r.withinDays !== undefined && r.withinDays <= r.olderThanDays) {
      ctx.addIssue({ code: 'custom', path: ['withinDays'], message: 'must be greater than olderThanDays, or no order can match' });
    }
  });

const attributeSchema = z
  .object({
    field: z.string().regex(FIELD_PATTERN, 'must be country, city, createdAt or attributes.<key> (letters, digits, _ and -)'),
    op: z.enum(['EQ', 'NEQ', 'GT', 'GTE', 'LT', 'LTE', 'IN', 'NOT_IN']),
    value: optional(text),
    values: optional(list),
  })
  .superRefine((a, ctx) => {
    const set = (ok: boolean, path: string, message: string) => ok || ctx.addIssue({ code: 'custom', path: [path], message });
    const listOp = a.op === 'IN' || a.op === 'NOT_IN';
    const orderOp = a.op === 'GT' || a.op === 'GTE' || a.op === 'LT' || a.op === 'LTE';
    if (listOp) {
      set(a.values !== undefined, 'values', `is required with ${a.op}`);
      set(a.value === undefined, 'value', `must be absent with ${a.op}; use values`);
    } else {
      set(a.value !== undefined, 'value', `is required with ${a.op}`);
      set(a.values === undefined, 'values', `must be absent with ${a.op}; use value`);
    }
    if (a.field === 'createdAt') {
      if (!orderOp) set(false, 'op', 'createdAt compares with GT, GTE, LT or LTE');
      else if (a.value !== undefined) set(parseDateTime(a.value) !== null, 'value', 'must be an RFC 3339 date-time on the calendar for createdAt');
    } else if (orderOp) {
      if (!a.field.startsWith('attributes.')) set(false, 'op', `${a.field} compares with EQ, NEQ, IN or NOT_IN`);
      else if (a.value !== undefined) set(/^-?\d+(\.\d+)?$/.test(a.value), 'value', `must be a number to compare with ${a.op}`);
    }
  });

type NodeInput = Record<string, unknown>;

const nodeSchema: z.ZodType<Rule> = z.lazy(() =>
  z
    .object({
      all: optional(z.array(nodeSchema).min(1, 'must have at least one rule').max(RULE_LIMITS.maxChildren, `must have at most ${RULE_LIMITS.maxChildren} rules`)),
      any: optional(z.array(nodeSchema).min(1, 'must have at least one rule').max(RULE_LIMITS.maxChildren, `must have at most ${RULE_LIMITS.maxChildren} rules`)),
      not: optional(nodeSchema),
      orderCount: optional(aggregateSchema),
      orderTotal: optional(aggregateSchema),
      lastOrder: optional(recencySchema),
      attribute: optional(attributeSchema),
      inSegment: optional(z.string().refine((id) => parseSegmentId(id) !== null, 'must be a segment id')),
    })
    .superRefine((node, ctx) => {
      const set = RULE_NODE_KINDS.filter((k) => node[k] !== undefined);
      if (set.length !== 1) {
        ctx.addIssue({
          code: 'custom',
          message: set.length === 0 ? `must set exactly one of ${RULE_NODE_KINDS.join(', ')}` : `must set exactly one field, got ${set.join(' and ')}`,
        });
      }
    })
    .transform((node) => normalizeNode(node as Partial<Record<(typeof RULE_NODE_KINDS)[number], unknown>>)),
);

/**
 * Checks a rule as sent by a client (the GraphQL input, or stored JSON) and
 * returns its normalized form, or every issue found with its path. Pure: the
 * checks that need the database (referenced segments exist, no cycles) are
 * the caller's.
 */
export function parseRule(input: unknown): ParseRuleResult {
  const shapeIssue = checkShape(input);
  if (shapeIssue) return { ok: false, issues: [shapeIssue] };
  const parsed = nodeSchema.safeParse(input);
  if (parsed.success) return { ok: true, rule: parsed.data };
  return {
    ok: false,
    issues: parsed.error.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message })),
  };
}

/** Depth and size limits, checked before anything recursive runs on the input. */
function checkShape(input: unknown): RuleIssue | null {
  let nodes = 0;
  const stack: Array<{ node: unknown; depth: number; path: PropertyKey[] }> = [{ node: input, depth: 1, path: [] }];
  while (stack.length > 0) {
    const { node, depth, path } = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    nodes++;
    if (depth > RULE_LIMITS.maxDepth) return { path: formatPath(path), message: `nests deeper than ${RULE_LIMITS.maxDepth} levels` };
    if (nodes > RULE_LIMITS.maxNodes) return { path: '', message: `has more than ${RULE_LIMITS.maxNodes} conditions` };
    const n = node as NodeInput;
    for (const key of ['all', 'any'] as const) {
      const children = n[key];
      if (Array.isArray(children)) {
        if (children.length > RULE_LIMITS.maxChildren) continue; // reported by the schema
        children.forEach((child, i) => stack.push({ node: child, depth: depth + 1, path: [...path, key, i] }));
      }
    }
    if (n.not !== undefined) stack.push({ node: n.not, depth: depth + 1, path: [...path, 'not'] });
  }
  return null;
}

/** A zod-style path as a field path: `['all', 0, 'not']` -> `all[0].not`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>((out, part) => (typeof part === 'number' ? `${out}[${part}]` : out ? `${out}.${String(part)}` : String(part)), '');
}

// Normalization keeps meaning and makes equal rules equal: duplicates removed
// and lists sorted, empty filters dropped, `all` inside `all` (and `any` inside
// `any`) flattened, single-child all/any unwrapped, double negation removed.
function normalizeNode(node: Partial<Record<(typeof RULE_NODE_KINDS)[number], unknown>>): Rule {
  if (node.all) return group('all', node.all as Rule[]);
  if (node.any) return group('any', node.any as Rule[]);
  if (node.not) {
    const inner = node.not as Rule;
    return 'not' in inner ? inner.not : { not: inner };
  }
  if (node.orderCount) return { orderCount: aggregate(node.orderCount as ParsedAggregate) };
  if (node.orderTotal) return { orderTotal: aggregate(node.orderTotal as ParsedAggregate) };
  if (node.lastOrder) {
    const r = node.lastOrder as ParsedRecency;
    return { lastOrder: compact<Recency>({ filter: filter(r.filter), olderThanDays: r.olderThanDays, withinDays: r.withinDays }) };
  }
  if (node.attribute) {
    const a = node.attribute as AttributeCondition;
    return { attribute: compact<AttributeCondition>({ field: a.field, op: a.op, value: a.value, values: a.values && sortedUnique(a.values) }) };
  }
  return { inSegment: node.inSegment as string };
}

type ParsedFilter = { storeIds?: string[]; withinDays?: number; since?: Date; until?: Date };
type ParsedAggregate = { filter?: ParsedFilter; op: OrderAggregate['op']; value: number };
type ParsedRecency = { filter?: ParsedFilter; olderThanDays?: number; withinDays?: number };

function group(kind: 'all' | 'any', children: Rule[]): Rule {
  const flat = children.flatMap((child) => (kind in child ? (child as Record<typeof kind, Rule[]>)[kind] : [child]));
  const unique = [...new Map(flat.map((child) => [JSON.stringify(child), child])).values()];
  if (unique.length === 1) return unique[0]!;
  return kind === 'all' ? { all: unique } : { any: unique };
}

function aggregate(a: ParsedAggregate): OrderAggregate {
  return compact<OrderAggregate>({ filter: filter(a.filter), op: a.op, value: a.value });
}

function filter(f: ParsedFilter | undefined): OrderFilter | undefined {
  if (!f) return undefined;
  const out = compact<OrderFilter>({
    storeIds: f.storeIds && sortedUnique(f.storeIds),
    withinDays: f.withinDays,
    since: f.since?.toISOString(),
    until: f.until?.toISOString(),
  });
  return Object.keys(out).length > 0 ? out : undefined;
}

function sortedUnique(values: string[]): string[] {
  return [...new Set(values)].sort();
}

function compact<T extends object>(value: { [K in keyof T]: T[K] | undefined }): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
