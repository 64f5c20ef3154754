import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { requiredSource } from '../rules/compile-sql.js';
import { CompiledRules, type CustomerInput, type OrderInput, type ReadScope } from '../rules/compiled-rules.js';
import { CustomerEvaluation } from '../rules/customer-evaluation.js';
import type { Rule } from '../rules/rule.js';

/** A segment of a group. */
export interface GroupSegment {
  id: number;
  rule: Rule;
}

/** Per segment of the group (same order), the number of changes written. */
export type GroupChanges = number[];

// Changes are written to Postgres in chunks of about this many bytes.
const WRITE_CHUNK_BYTES = 64 * 1024;

/**
 * Many segments computed in one pass over the customers (issue 15): one
 * streamed statement reads, in the caller's snapshot, every customer with the
 * orders the group's rules can read and their memberships of the group's
 * segments (and of those they read); each customer is evaluated in this
 * process with the compiled rules (the event path's, src/rules), and only
 * the differences with the current memberships are streamed into
 * `recompute_target` on another connection. Memory holds one customer at a
 * time: nothing proportional to the customer base. The cost is one pass, not
 * one per segment, and each customer is evaluated only against the segments
 * whose stores they ordered from (a rule that requires an order of stores S
 * is false for the others).
 */
export async function computeGroupChanges(
  reader: pg.PoolClient,
  writer: pg.PoolClient,
  segments: readonly GroupSegment[],
  asOf: Date,
): Promise<GroupChanges> {
  const rules = new CompiledRules();
  const programs = segments.map((s) => rules.compile(s.id, 0, s.rule));
  const position = new Map(segments.map((s, i) => [s.id, i]));
  const read = rules.readScope(programs, asOf);
  const { always, anyOrder, byStore } = candidates(segments);
  const changes: GroupChanges = segments.map(() => 0);

  const seen = new Set<number>();
  /** The changes of one customer's facts (one line of the stream), in COPY's text format. */
  const evaluate = (line: string): string => {
    // COPY's text format doubles every backslash; JSON text holds no other character it escapes.
    const [id, createdAt, country, city, attributes, orderRows, memberRows] = JSON.parse(line.replaceAll('\\\\', '\\')) as [
      string,
      number | null,
      string | null,
      string | null,
      CustomerInput['attributes'] | null,
      Array<[string, number, number]> | null,
      number[] | null,
    ];
    let out = '';
    const emit = (segmentId: number, member: boolean) => {
      out += `${segmentId}\t${copyText(id)}\t${member ? 't' : 'f'}\n`;
      changes[position.get(segmentId)!]!++;
    };
    const orders: OrderInput[] = (orderRows ?? []).map(([storeId, totalCents, micros]) => ({ storeId, totalCents, createdAtMicros: micros }));
    const members = new Set(memberRows ?? []);
    const customer = new CustomerEvaluation(rules, asOf, { createdAtMicros: createdAt, country, city, attributes: attributes ?? {} }, orders, members);
    seen.clear();
    for (const i of always) seen.add(i);
    for (const order of orders) for (const i of byStore.get(order.storeId) ?? []) seen.add(i);
    if (orders.length > 0) for (const i of anyOrder) seen.add(i);
    for (const i of seen) {
      const segment = programs[i]!;
      // As the set-based recompute does, inSegment reads the memberships of the snapshot.
      const member = segment.test(customer);
      if (member !== members.has(segment.id)) emit(segment.id, member);
    }
    // A segment not evaluated is false for this customer: its members leave.
    for (const segmentId of memberRows ?? []) {
      const i = position.get(segmentId);
      if (i !== undefined && !seen.has(i)) emit(segmentId, false);
    }
    return out;
  };

  const facts = reader.query(copyTo(factsQuery(reader, read)));
  facts.setEncoding('utf8');
  // Lines of the facts in, chunks of changes out; pipeline() carries backpressure and either side's error.
  async function* changeChunks(): AsyncGenerator<string> {
    let carry = '';
    let out = '';
    for await (const chunk of facts as AsyncIterable<string>) {
      const lines = (carry + chunk).split('\n');
      carry = lines.pop()!;
      for (const line of lines) if (line !== '') out += evaluate(line);
      if (out.length >= WRITE_CHUNK_BYTES) {
        yield out;
        out = '';
      }
    }
    if (carry !== '') out += evaluate(carry);
    if (out !== '') yield out;
  }
  await pipeline(Readable.from(changeChunks()), writer.query(copyFrom('COPY recompute_target (segment_id, customer_id, member) FROM STDIN')));

  // Members missing from customers are members of nothing.
  const { rows: orphans } = await reader.query<{ segment_id: number; customer_id: string }>(
    `SELECT m.segment_id, m.customer_id FROM segment_memberships m
      WHERE m.segment_id = ANY($1::int[]) AND NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = m.customer_id)`,
    [segments.map((s) => s.id)],
  );
  if (orphans.length > 0) {
    await writer.query(
      `INSERT INTO recompute_target (segment_id, customer_id, member) SELECT *, false FROM unnest($1::int[], $2::text[])`,
      [orphans.map((o) => o.segment_id), orphans.map((o) => o.customer_id)],
    );
    for (const o of orphans) changes[position.get(o.segment_id)!]!++;
  }
  return changes;
}

/**
 * Which segments can hold a customer: a rule that requires an order of stores
 * S (requiredSource) holds only customers with such an order; one that
 * requires some order, only customers with one; the others are evaluated for
 * everyone.
 */
function candidates(segments: readonly GroupSegment[]) {
  const always: number[] = [];
  const anyOrder: number[] = [];
  const byStore = new Map<string, number[]>();
  segments.forEach((segment, i) => {
    const required = requiredSource(segment.rule);
    if (!required || 'segmentId' in required) always.push(i);
    else if (!required.filter?.storeIds) anyOrder.push(i);
    else {
      for (const store of required.filter.storeIds) {
        let list = byStore.get(store);
        if (!list) byStore.set(store, (list = []));
        list.push(i);
      }
    }
  });
  return { always, anyOrder, byStore };
}

/** The statement that streams the facts, one JSON array per customer. COPY takes no parameters: every value is a literal. */
function factsQuery(client: pg.PoolClient, read: ReadScope): string {
  const text = (values: readonly string[]) => `ARRAY[${values.map((v) => client.escapeLiteral(v)).join(',')}]::text[]`;
  const where = ['o.customer_id = c.id'];
  if (read.storeIds) where.push(`o.store_id = ANY(${text(read.storeIds)})`);
  if (read.ordersSince) where.push(`o.created_at >= ${client.escapeLiteral(read.ordersSince.toISOString())}::timestamptz`);
  const attributes = read.attributeKeys.length
    ? `(SELECT jsonb_object_agg(k, jsonb_build_array(jsonb_typeof(c.attributes -> k), c.attributes ->> k)) FROM unnest(${text(read.attributeKeys)}) AS k WHERE c.attributes ? k)`
    : 'NULL::jsonb';
  return `COPY (
    SELECT json_build_array(c.id, floor(extract(epoch FROM c.created_at) * 1000000), c.country, c.city, ${attributes},
             (SELECT json_agg(json_build_array(o.store_id, o.total_cents, floor(extract(epoch FROM o.created_at) * 1000000))) FROM orders o WHERE ${where.join(' AND ')}),
             (SELECT array_agg(m.segment_id) FROM segment_memberships m
               WHERE m.customer_id = c.id AND m.segment_id = ANY(ARRAY[${read.segmentIds.map((id) => Math.trunc(id)).join(',')}]::int[])))::text
      FROM customers c
  ) TO STDOUT`;
}

/** A value in COPY's text format. */
function copyText(value: string): string {
  return value.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}
