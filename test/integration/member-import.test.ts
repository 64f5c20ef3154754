import http from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishMembershipEvents } from '../../src/pipeline/publish-membership-events.js';
import { archiveSegment, createSegment } from '../helpers/fixtures.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { startSupergraph, type RunningSupergraph } from '../helpers/supergraph.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';
import { adminToken, readerToken } from '../helpers/tokens.js';
import { startTestWorkers } from '../helpers/workers.js';

const ids = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `cust-${from + i}`);
const csv = (list: readonly string[]) => `${list.join('\n')}\n`;
const sorted = (list: Iterable<string>) => [...list].sort();
const isEqual = (a: readonly boolean[], b: readonly boolean[]) => a.length === b.length && a.every((value, i) => value === b[i]);

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

describe('PUT /admin/segments/{id}/members', () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let small: RunningSubgraph;
  let supergraph: RunningSupergraph;
  let admin: string;

  beforeAll(async () => {
    stores = await createTestStores();
    subgraph = await startSubgraph(stores);
    // The same service with a 64 KiB limit on lists.
    small = await startSubgraph(stores, { introspection: false, landingPage: false, memberImportMaxBytes: 64 * 1024 });
    supergraph = await startSupergraph(subgraph.url);
    admin = await adminToken();
  });
  afterAll(async () => {
    await supergraph?.stop();
    await small?.stop();
    await subgraph?.stop();
    await stores?.dispose();
  });

  const put = async (
    segmentId: number | string,
    body: string | Buffer,
    options: { token?: string | null; headers?: Record<string, string>; server?: RunningSubgraph } = {},
  ): Promise<Answer> => {
    const token = options.token === undefined ? admin : options.token;
    const response = await fetch(new URL(`/admin/segments/${segmentId}/members`, (options.server ?? subgraph).url), {
      method: 'PUT',
      headers: { 'content-type': 'text/csv', ...(token ? { authorization: `Bearer ${token}` } : {}), ...options.headers },
      body,
    });
    const text = await response.text();
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(text).not.toMatch(/<html|stack|\/work\/|node_modules|\.ts:\d+|\.js:\d+/i);
    return { status: response.status, headers: response.headers, body: JSON.parse(text) };
  };

  const members = async (segmentId: number) =>
    (await stores.pool.query<{ id: string }>('SELECT customer_id AS id FROM segment_memberships WHERE segment_id = $1 ORDER BY 1', [segmentId])).rows.map((r) => r.id);
  const importEvents = async (segmentId: number, change: 'ENTERED' | 'LEFT', afterId = '0') =>
    (
      await stores.pool.query<{ id: string }>(
        `SELECT customer_id AS id FROM segment_membership_events WHERE segment_id = $1 AND change = $2 AND cause = 'import' AND id > $3 ORDER BY 1`,
        [segmentId, change, afterId],
      )
    ).rows.map((r) => r.id);
  const lastEventId = async () => String((await stores.pool.query('SELECT coalesce(max(id), 0) AS id FROM segment_membership_events')).rows[0].id);
  const everything = async () =>
    (
      await stores.pool.query(`SELECT (SELECT count(*) FROM segment_memberships) AS memberships,
        (SELECT count(*) FROM segment_membership_events) AS events, (SELECT count(*) FROM segment_history) AS history,
        (SELECT json_agg(json_build_object('id', id, 'size', size, 'updated', updated_at) ORDER BY id) FROM segments WHERE kind = 'STATIC') AS segments`)
    ).rows[0];
  const served = async (customerIds: readonly string[]) => (await stores.servingStore.readMany(customerIds)).snapshots;

  it('replaces the members, records only the difference as import events, and serves the new set', async () => {
    const segment = await createSegment(stores);
    const first = ids(1, 3000);
    let answer = await put(segment.id, csv(first));
    expect(answer).toMatchObject({ status: 200, body: { size: 3000, entered: 3000, left: 0 } });
    expect(await members(segment.id)).toEqual(sorted(first));
    expect(await importEvents(segment.id, 'ENTERED')).toEqual(sorted(first));

    // Half the ids change: 1,500 stay, 1,500 leave, 1,500 enter.
    const before = await lastEventId();
    const second = [...ids(1, 1500), ...ids(3001, 4500)];
    answer = await put(segment.id, csv(second));
    expect(answer).toMatchObject({ status: 200, body: { size: 3000, entered: 1500, left: 1500 } });
    expect(await members(segment.id)).toEqual(sorted(second));
    expect(await importEvents(segment.id, 'ENTERED', before)).toEqual(sorted(ids(3001, 4500)));
    expect(await importEvents(segment.id, 'LEFT', before)).toEqual(sorted(ids(1501, 3000)));
    expect((await stores.segments.findByIds([segment.id]))[0]!.size).toBe(3000);

    // What stayed keeps the time it entered.
    const { rows } = await stores.pool.query(
      `SELECT count(DISTINCT since)::int AS n FROM segment_memberships WHERE segment_id = $1 AND customer_id = ANY($2::text[])`,
      [segment.id, ids(1, 1500)],
    );
    expect(rows[0].n).toBe(1);

    // The workers' publisher, asked by the import, carries the events to the serving keys:
    // the new set is served, the old one is not.
    const workers = await startTestWorkers(stores);
    try {
      // Every event published first: a read that fell back to Postgres (a busy machine) would show the new set before Redis has it.
      const unpublished = async () => Number((await stores.pool.query('SELECT count(*) AS n FROM membership_event_outbox')).rows[0].n);
      await expect.poll(unpublished, { timeout: 15_000 }).toBe(0);
      const inRedis = await Promise.all(ids(1, 4500).map((id) => stores.redis.hexists(stores.keys.customer(id), String(segment.id))));
      expect(ids(1, 4500).filter((_, i) => inRedis[i] === 1)).toEqual(second);
      const snapshots = await served(ids(1, 4500));
      expect(ids(1, 4500).filter((_, i) => snapshots[i]!.has(segment.id))).toEqual(second);
    } finally {
      await workers.close();
    }

    // Through the composed supergraph, as a client reads it.
    const read = (customerId: string) =>
      execute(supergraph.url, `query ($c: ID!, $s: ID!) { customer(id: $c) { isInSegment(id: $s) segments { id } } }`, { c: customerId, s: String(segment.id) });
    expect((await read('cust-4500')).data).toEqual({ customer: { isInSegment: true, segments: [{ id: String(segment.id) }] } });
    expect((await read('cust-2000')).data).toEqual({ customer: { isInSegment: false, segments: [] } });
    expect((await read('cust-1')).data!.customer.isInSegment).toBe(true);
  });

  it('shows a page of customers the old members or the new ones, never some of each, while the import is published', async () => {
    const segment = await createSegment(stores);
    const old = ids(5001, 5060);
    const fresh = ids(5061, 5120);
    const page = [...old, ...fresh];
    const isOld = page.map((id) => old.includes(id));
    const isNew = isOld.map((member) => !member);
    const publish = (servingStore: Pick<TestStores['servingStore'], 'applyChanges'>, batchSize: number) =>
      publishMembershipEvents({ pool: stores.pool, servingStore, stream: stores.eventStream }, 10_000, batchSize);
    // The page as the router asks for it: one _entities call for every customer on it.
    const readPage = async () => {
      const result = await execute(
        subgraph.url,
        `query ($r: [_Any!]!, $s: ID!) { _entities(representations: $r) { ... on Customer { isInSegment(id: $s) } } }`,
        { r: page.map((id) => ({ __typename: 'Customer', id })), s: String(segment.id) },
      );
      expect(result.errors).toBeUndefined();
      return result.data!._entities.map((c: { isInSegment: boolean }) => c.isInSegment) as boolean[];
    };
    const inRedis = async () => (await Promise.all(page.map((id) => stores.redis.hexists(stores.keys.customer(id), String(segment.id))))).map((n) => n === 1);

    await put(segment.id, csv(old));
    await publish(stores.servingStore, 10_000);
    expect(await readPage()).toEqual(isOld);

    expect((await put(segment.id, csv(fresh))).body).toEqual({ size: 60, entered: 60, left: 60 });
    // Publication in batches of 20 events, and after each batch has reached Redis, before the
    // next one: what Redis holds for the page, and what a reader of the page is answered.
    const seen: Array<{ redis: boolean[]; answered: boolean[]; replacing: string[] }> = [];
    await publish(
      {
        applyChanges: async (...args) => {
          await stores.servingStore.applyChanges(...args);
          seen.push({ redis: await inRedis(), answered: await readPage(), replacing: await stores.redis.smembers(stores.keys.servingReplacing(0)) });
        },
      },
      20,
    );

    // 120 events: six batches, then the read that finds none left.
    expect(seen).toHaveLength(7);
    const halfway = seen.filter(({ redis }) => !isEqual(redis, isOld) && !isEqual(redis, isNew));
    expect(halfway.length).toBeGreaterThanOrEqual(4); // Redis held neither set...
    for (const { answered } of seen) expect(answered).toEqual(isNew); // ...and the page was always the new one.
    // Marked as being replaced until the batch that applies its last import event.
    expect(seen.map(({ replacing }) => replacing)).toEqual([...Array(5).fill([String(segment.id)]), [], []]);
    expect(seen.at(-1)!.redis).toEqual(isNew);
  });

  it('clears a replacement mark that no pending import event backs once everything is published', async () => {
    // As when an erasure removed the last event of an import the publisher had begun.
    await stores.redis.sadd(stores.keys.servingReplacing(0), '424242');
    await publishMembershipEvents({ pool: stores.pool, servingStore: stores.servingStore, stream: stores.eventStream });
    expect(await stores.redis.exists(stores.keys.servingReplacing(0))).toBe(0);
  });

  it('records each import in the segment history, one change per import', async () => {
    const segment = await createSegment(stores);
    await put(segment.id, csv(ids(1, 10)));
    await put(segment.id, csv(ids(6, 12)));
    await put(segment.id, csv(ids(6, 12)));
    const result = await execute(subgraph.url, `query ($id: ID!) { segment(id: $id) { history { action actor customerCount } } }`, { id: String(segment.id) }, admin);
    expect(result.data!.segment.history).toEqual([
      { action: 'MEMBERS_IMPORTED', actor: 'admin@test', customerCount: 0 },
      { action: 'MEMBERS_IMPORTED', actor: 'admin@test', customerCount: 7 },
      { action: 'MEMBERS_IMPORTED', actor: 'admin@test', customerCount: 10 },
      { action: 'CREATED', actor: 'test-fixture', customerCount: null },
    ]);
  });

  it('changes nothing when the list repeats the members', async () => {
    const segment = await createSegment(stores);
    await put(segment.id, csv(ids(1, 50)));
    const before = await lastEventId();
    const answer = await put(segment.id, csv([...ids(1, 50)].reverse()));
    expect(answer.body).toEqual({ size: 50, entered: 0, left: 0 });
    expect(await lastEventId()).toBe(before);
  });

  // No publisher runs here (it stamps events, which gives them a new xmin).
  it('writes the new set in one transaction: every row it writes carries the same transaction id', async () => {
    const segment = await createSegment(stores);
    await put(segment.id, csv(ids(1, 2000)));
    const before = await lastEventId();
    await put(segment.id, csv(ids(1001, 3000)));
    const { rows } = await stores.pool.query(
      `SELECT count(DISTINCT x)::int AS transactions, count(*)::int AS rows FROM (
         SELECT xmin::text AS x FROM segment_membership_events WHERE segment_id = $1 AND id > $2
         UNION ALL SELECT xmin::text FROM segment_memberships WHERE segment_id = $1 AND customer_id = ANY($3::text[])
         UNION ALL SELECT xmin::text FROM segments WHERE id = $1
         UNION ALL (SELECT xmin::text FROM segment_history WHERE segment_id = $1 ORDER BY id DESC LIMIT 1)) written`,
      [segment.id, before, ids(2001, 3000)],
    );
    // 1,000 LEFT and 1,000 ENTERED events, 1,000 new memberships, the size, the history entry.
    expect(rows[0]).toEqual({ transactions: 1, rows: 3002 });
  });

  it('lets readers see the old set while a list is still arriving, and the new one once it is answered', async () => {
    const segment = await createSegment(stores);
    const old = ids(1, 1000);
    await put(segment.id, csv(old));
    const next = ids(501, 20_500);
    const url = new URL(`/admin/segments/${segment.id}/members`, subgraph.url);
    const request = http.request(url, { method: 'PUT', headers: { 'content-type': 'text/csv', authorization: `Bearer ${admin}` } });
    const answered = new Promise<{ status: number; body: any }>((resolve, reject) => {
      request.on('response', (response) => {
        let text = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => resolve({ status: response.statusCode!, body: JSON.parse(text) }));
      });
      request.on('error', reject);
    });
    request.write(csv(next.slice(0, 10_000)));
    // The server has copied the first half into Postgres...
    await expect
      .poll(async () => Number((await stores.pool.query(`SELECT coalesce(max(tuples_processed), 0) AS n FROM pg_stat_progress_copy WHERE datname = current_database()`)).rows[0].n), { timeout: 10_000 })
      .toBeGreaterThanOrEqual(10_000);
    // ...and a reader still sees exactly the old members.
    expect(await members(segment.id)).toEqual(sorted(old));
    request.end(csv(next.slice(10_000)));
    expect(await answered).toEqual({ status: 200, body: { size: 20_000, entered: 19_500, left: 500 } });
    expect(await members(segment.id)).toEqual(sorted(next));
  });

  it('reads lines ending in CRLF, a byte-order mark, a missing last newline, duplicates, backslashes and gzip', async () => {
    const segment = await createSegment(stores);
    const body = '\uFEFFa\\b\r\nc\r\nc\r\n\u00e9t\u00e9-\u4e2d\r\nd';
    expect((await put(segment.id, body, { headers: { 'content-type': 'text/csv; charset=UTF-8' } })).body).toEqual({ size: 4, entered: 4, left: 0 });
    expect(await members(segment.id)).toEqual(sorted(['a\\b', 'c', '\u00e9t\u00e9-\u4e2d', 'd']));
    const gzipped = await put(segment.id, gzipSync(csv(ids(1, 5000))), { headers: { 'content-encoding': 'gzip' } });
    expect(gzipped.body).toEqual({ size: 5000, entered: 5000, left: 4 });
    expect(await members(segment.id)).toEqual(sorted(ids(1, 5000)));
  });

  describe('refusals change nothing', () => {
    let target: number;
    let rule: number;
    let archived: number;
    let read: string;
    beforeAll(async () => {
      target = (await createSegment(stores)).id;
      await put(target, csv(ids(1, 100)));
      const created = await execute(
        subgraph.url,
        `mutation { createSegment(input: { name: "rule segment", rule: { lastOrder: { olderThanDays: 30 } } }) { id } }`,
        {},
        admin,
      );
      rule = Number(created.data!.createSegment.id);
      archived = (await createSegment(stores)).id;
      await archiveSegment(stores, archived);
      read = await readerToken();
    });

    const longId = 'x'.repeat(201);
    it.each([
      ['no token', () => put(target, csv(ids(1, 5)), { token: null }), 401, 'UNAUTHENTICATED'],
      ['an invalid token', () => put(target, csv(ids(1, 5)), { token: 'not.a.token' }), 401, 'UNAUTHENTICATED'],
      ['a token without segments:write', () => put(target, csv(ids(1, 5)), { token: read }), 403, 'FORBIDDEN'],
      ['a RULE segment', () => put(rule, csv(ids(1, 5))), 400, 'BAD_USER_INPUT', { field: 'id' }, /computed from its rule/],
      ['an archived segment', () => put(archived, csv(ids(1, 5))), 400, 'BAD_USER_INPUT', { field: 'id' }, /archived/],
      ['an unknown segment', () => put(99_999, csv(ids(1, 5))), 400, 'BAD_USER_INPUT', { field: 'id' }, /no segment/],
      ['a malformed segment id', () => put('x1', csv(ids(1, 5))), 400, 'BAD_USER_INPUT', { field: 'id' }, /no segment/],
      ['an empty line', () => put(target, 'a\nb\n\nc\n'), 400, 'BAD_USER_INPUT', { field: 'body', line: 3 }, /line 3 is empty/],
      ['a blank line at the end', () => put(target, 'a\nb\n\n'), 400, 'BAD_USER_INPUT', { line: 3 }, /empty/],
      ['an id too long', () => put(target, `a\n${longId}\n`), 400, 'BAD_USER_INPUT', { line: 2 }, /longer than 200/],
      ['an id too long without a newline', () => put(target, `a\nb\n${'x'.repeat(5000)}`), 400, 'BAD_USER_INPUT', { line: 3 }, /longer than 200/],
      ['a comma', () => put(target, 'a\nb,c\n'), 400, 'BAD_USER_INPUT', { line: 2 }, /comma/],
      ['a header with two columns', () => put(target, 'customer_id,score\na,1\n'), 400, 'BAD_USER_INPUT', { line: 1 }, /comma/],
      ['a quoted id', () => put(target, 'a\n"b"\n'), 400, 'BAD_USER_INPUT', { line: 2 }, /double quote/],
      ['a tab', () => put(target, 'a\tb\n'), 400, 'BAD_USER_INPUT', { line: 1 }, /control character/],
      ['a lone CR', () => put(target, 'a\rb\n'), 400, 'BAD_USER_INPUT', { line: 1 }, /control character/],
      ['spaces around an id', () => put(target, 'a\n b\n'), 400, 'BAD_USER_INPUT', { line: 2 }, /spaces/],
      ['bytes that are not UTF-8', () => put(target, Buffer.from([0x61, 0x0a, 0x62, 0xff, 0x0a])), 400, 'BAD_USER_INPUT', { line: 2 }, /not UTF-8/],
      ['an empty body', () => put(target, ''), 400, 'BAD_USER_INPUT', { field: 'body' }, /no customer id/],
      ['a bad line after 60,000 good ones', () => put(target, `${csv(ids(1, 60_000))}bad,line\n${csv(ids(60_001, 60_100))}`), 400, 'BAD_USER_INPUT', { line: 60_001 }, /comma/],
      ['gzip that is not', () => put(target, 'a\nb\n', { headers: { 'content-encoding': 'gzip' } }), 400, 'BAD_REQUEST'],
      ['JSON', () => put(target, '["a"]', { headers: { 'content-type': 'application/json' } }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['another charset', () => put(target, 'a\n', { headers: { 'content-type': 'text/csv; charset=latin1' } }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['another encoding', () => put(target, 'a\n', { headers: { 'content-encoding': 'br' } }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['a list over the limit', () => put(target, csv(ids(1, 10_000)), { server: small }), 413, 'PAYLOAD_TOO_LARGE'],
      ['a gzip list over the limit once decoded', () => put(target, gzipSync(csv(ids(1, 10_000))), { server: small, headers: { 'content-encoding': 'gzip' } }), 413, 'PAYLOAD_TOO_LARGE'],
    ] as const)('%s', async (_name, send, status, code, extensions?: Record<string, unknown>, message?: RegExp) => {
      const before = await everything();
      const answer = await send();
      expect(answer.status).toBe(status);
      expect(answer.body.errors).toHaveLength(1);
      expect(answer.body.errors[0].extensions).toMatchObject({ code, ...extensions });
      if (message) expect(answer.body.errors[0].message).toMatch(message);
      expect(await everything()).toEqual(before);
      expect(await members(target)).toEqual(sorted(ids(1, 100)));
    });

    it('says how to authenticate on 401', async () => {
      expect((await put(target, 'a\n', { token: null })).headers.get('www-authenticate')).toBe('Bearer');
    });

    it('still imports after refusals that aborted a COPY half-way', async () => {
      for (let i = 0; i < 3; i++) expect((await put(target, `${csv(ids(1, 20_000))}"\n`)).status).toBe(400);
      expect((await put(target, csv(ids(1, 100)), { server: small })).body).toEqual({ size: 100, entered: 0, left: 0 });
    });
  });
});
