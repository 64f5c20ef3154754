import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PREVIEWS } from '../../src/platform/config.js';
import { seedOrderHistory } from '../../src/stores/postgres/order-history-seed.js';
import { addMembers, createSegment } from '../helpers/fixtures.js';
import { execute, startSubgraph, type GraphQLResponse, type RunningSubgraph } from '../helpers/subgraph.js';
import { startSupergraph, type RunningSupergraph } from '../helpers/supergraph.js';
import { startTcpRelay, type TcpRelay } from '../helpers/tcp-relay.js';
import { createTestStores, POSTGRES_TARGET, TEST_POSTGRES_URL, type TestStores } from '../helpers/test-environment.js';
import { adminToken, token } from '../helpers/tokens.js';

// Issue 9, item 6: previews run on a pool of their own with timeouts, one per
// operation and one at a time per caller; public reads never wait for them.

const PREVIEW = `query ($rule: SegmentRuleInput!) { previewSegment(rule: $rule, sampleSize: 3) { size sample { id } } }`;
const PREVIEW_CHANGE = `query ($id: ID!, $rule: SegmentRuleInput!) { previewSegmentChange(id: $id, rule: $rule) { currentSize newSize } }`;
const SEGMENT = `query ($id: ID!) { segment(id: $id) { id name } }`;
const CUSTOMER = `query ($id: ID!) { customer(id: $id) { name segments { id name } } }`;
const SEGMENTS = `{ segments(first: 10) { edges { node { id } } } }`;
const CREATE = `mutation ($name: String!) { createSegment(input: { name: $name }) { id name } }`;

const inactive = { lastOrder: { olderThanDays: 60 } };
const reader = (subject: string) => token(['segments:read'], { subject });
const codeOf = (answer: GraphQLResponse) => answer.errors?.[0]?.extensions?.code;
/** The errors of a gateway answer as the subgraph gave them: the gateway adds the subgraph's name. */
const subgraphErrors = (answer: GraphQLResponse) =>
  answer.errors?.map(({ extensions: { serviceName: _name, ...extensions } = {}, ...error }) => ({ ...error, extensions }));

/** The server the relay leads to, with the credentials of the test server. */
function viaRelay(relay: TcpRelay): string {
  const url = new URL(TEST_POSTGRES_URL);
  url.host = `127.0.0.1:${relay.port}`;
  return url.toString().replace(/\/$/, '');
}

/** An operation in flight, and whether it has answered yet. */
function track<T>(promise: Promise<T>) {
  const tracked = { settled: false, promise: promise.finally(() => (tracked.settled = true)) };
  return tracked;
}

describe('previews on a stalled preview pool', () => {
  let relay: TcpRelay;
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let supergraph: RunningSupergraph;
  let segmentId: number;

  beforeAll(async () => {
    // Previews reach Postgres through the relay; everything else goes straight to it.
    relay = await startTcpRelay(POSTGRES_TARGET);
    stores = await createTestStores({ previewPostgresUrl: viaRelay(relay), previewPool: { size: 2, statementTimeoutMs: 10_000, waitTimeoutMs: 10_000 } });
    segmentId = (await createSegment(stores, 'Newsletter')).id;
    await addMembers(stores, segmentId, ['c-1', 'c-2']);
    subgraph = await startSubgraph(stores);
    supergraph = await startSupergraph(subgraph.url);
  });
  afterAll(async () => {
    await relay?.restore();
    await supergraph?.stop();
    await subgraph?.stop();
    await stores?.dispose();
    await relay?.close();
  });

  it('keeps public reads and admin writes answering while previews hold the preview pool, then fails the previews clearly', async () => {
    // One preview leaves a connection idle in the preview pool (size 2).
    expect((await execute(supergraph.url, PREVIEW, { rule: inactive }, await reader('warm@test'))).data?.previewSegment).toEqual({ size: 0, sample: [] });
    relay.stall();

    // Three callers: one gets the idle connection, whose statement is never
    // answered; one waits for a new connection the server never accepts; one
    // waits in the pool's queue.
    const subjects = ['a@test', 'b@test', 'c@test'];
    const previews = await Promise.all(subjects.map(async (subject) => track(execute(supergraph.url, PREVIEW, { rule: inactive }, await reader(subject)))));
    await expect.poll(() => [stores.previewPool.totalCount, stores.previewPool.waitingCount], { timeout: 8000 }).toEqual([2, 1]);

    // Meanwhile the public read path and the rest of the admin API answer from
    // the shared pool and Redis, and the same callers' next previews are
    // refused at once rather than queued.
    const admin = await adminToken();
    const [segment, customer, list, created, again, change] = await Promise.all([
      execute(supergraph.url, SEGMENT, { id: String(segmentId) }),
      execute(supergraph.url, CUSTOMER, { id: 'c-1' }),
      execute(supergraph.url, SEGMENTS, {}, admin),
      execute(supergraph.url, CREATE, { name: 'Created during the stall' }, admin),
      execute(supergraph.url, PREVIEW, { rule: inactive }, await reader('a@test')),
      execute(supergraph.url, PREVIEW_CHANGE, { id: String(segmentId), rule: inactive }, await reader('b@test')),
    ]);
    expect(segment).toEqual({ data: { segment: { id: String(segmentId), name: 'Newsletter' } } });
    expect(customer).toEqual({ data: { customer: { name: 'Customer c-1', segments: [{ id: String(segmentId), name: 'Newsletter' }] } } });
    expect(list.errors).toBeUndefined();
    expect(list.data?.segments.edges).toHaveLength(1);
    expect(created.data?.createSegment).toMatchObject({ name: 'Created during the stall' });
    for (const [refused, field] of [[again, 'previewSegment'], [change, 'previewSegmentChange']] as const) {
      expect(refused.data).toBeNull();
      expect(subgraphErrors(refused)).toEqual([
        {
          message: 'Another preview by the same caller is still running; wait for it to finish before starting the next',
          path: [field],
          extensions: { code: 'TOO_MANY_REQUESTS', limit: 'previewsPerToken' },
        },
      ]);
    }
    expect(stores.pool.waitingCount).toBe(0);
    // None of the previews had answered: nothing above waited for them (their timeouts are 10 s).
    expect(previews.map((p) => p.settled)).toEqual([false, false, false]);

    const answers = await Promise.all(previews.map((p) => p.promise));
    for (const answer of answers) expect(answer.data).toBeNull();
    const errors = answers.flatMap((a) => subgraphErrors(a)!).sort((x, y) => String(x.extensions.code).localeCompare(String(y.extensions.code)));
    expect(errors).toEqual([
      {
        message: 'The preview took longer than 10000 ms; narrow the rule',
        path: ['previewSegment'],
        extensions: { code: 'PREVIEW_TIMEOUT', timeoutMs: 10_000 },
      },
      ...Array.from({ length: 2 }, () => ({
        message: 'No preview connection was free within 10000 ms; try again in a moment',
        path: ['previewSegment'],
        extensions: { code: 'TOO_MANY_REQUESTS', limit: 'previewPool' },
      })),
    ]);

    // Once Postgres answers again, so do previews, and every caller has its slot back.
    await relay.restore();
    for (const subject of subjects) {
      expect((await execute(supergraph.url, PREVIEW, { rule: inactive }, await reader(subject))).data?.previewSegment).toEqual({ size: 0, sample: [] });
    }
  });

  it('runs previews of different callers side by side', async () => {
    relay.delay(1000); // each answer held, so that the two overlap
    try {
      const answers = await Promise.all(['y@test', 'z@test'].map(async (subject) => execute(supergraph.url, PREVIEW, { rule: inactive }, await reader(subject))));
      expect(answers).toEqual([{ data: { previewSegment: { size: 0, sample: [] } } }, { data: { previewSegment: { size: 0, sample: [] } } }]);
    } finally {
      relay.delay(0);
    }
  });
});

describe('preview statement timeout', () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let supergraph: RunningSupergraph;

  beforeAll(async () => {
    // A real history and a statement timeout no preview of it can meet.
    stores = await createTestStores({ previewPool: { ...DEFAULT_PREVIEWS, statementTimeoutMs: 1 } });
    await seedOrderHistory(stores.pool, { customers: 3000, orders: 40_000, stores: 20 });
    subgraph = await startSubgraph(stores);
    supergraph = await startSupergraph(subgraph.url);
  });
  afterAll(async () => {
    await supergraph?.stop();
    await subgraph?.stop();
    await stores?.dispose();
  });

  it('cancels a preview statement that runs too long, with a clear error and no SQL', async () => {
    const recurrent = { orderCount: { filter: { storeIds: ['store-00001', 'store-00004'], withinDays: 30 }, op: 'GTE', value: 3 } };
    const answer = await execute(supergraph.url, PREVIEW, { rule: recurrent }, await reader('slow@test'));
    expect(answer.data).toBeNull();
    expect(subgraphErrors(answer)).toEqual([
      {
        message: 'The preview took longer than 1 ms; narrow the rule',
        path: ['previewSegment'],
        extensions: { code: 'PREVIEW_TIMEOUT', timeoutMs: 1 },
      },
    ]);
    // Postgres itself cancels it (statement_timeout of every preview connection), however the caller went away.
    const { rows } = await stores.previewPool.query<{ statement_timeout: string }>('SHOW statement_timeout');
    expect(rows).toEqual([{ statement_timeout: '1ms' }]);
  });
});

describe('one preview per operation', () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let supergraph: RunningSupergraph;
  let segmentId: number;
  let caller: string;

  beforeAll(async () => {
    stores = await createTestStores();
    segmentId = (await createSegment(stores, 'Static')).id;
    subgraph = await startSubgraph(stores);
    supergraph = await startSupergraph(subgraph.url);
    caller = await reader('one@test');
  });
  afterAll(async () => {
    await supergraph?.stop();
    await subgraph?.stop();
    await stores?.dispose();
  });

  const send = async (query: string, operationName?: string) => {
    const response = await fetch(subgraph.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${caller}` },
      body: JSON.stringify({ query, variables: { rule: inactive, id: String(segmentId) }, ...(operationName ? { operationName } : {}) }),
    });
    return { status: response.status, body: (await response.json()) as GraphQLResponse };
  };
  const p = (alias = '') => `${alias}previewSegment(rule: $rule) { size }`;
  const vars = '($rule: SegmentRuleInput!)';

  it.each([
    ['two aliases', `query ${vars} { ${p('a: ')} ${p('b: ')} }`, 2],
    ['a preview and a change preview', `query ($rule: SegmentRuleInput!, $id: ID!) { ${p()} previewSegmentChange(id: $id, rule: $rule) { newSize } }`, 2],
    ['a fragment and a field', `query ${vars} { ...P ${p('b: ')} } fragment P on Query { ${p('a: ')} }`, 2],
    ['two fragments', `query ${vars} { ...P ...Q } fragment P on Query { ${p('a: ')} } fragment Q on Query { ${p('b: ')} }`, 2],
    ['inline fragments', `query ${vars} { ... on Query { ${p('a: ')} ... { ${p('b: ')} } } ${p('c: ')} }`, 3],
    ['twelve aliases', `query ${vars} { ${Array.from({ length: 12 }, (_, i) => p(`p${i}: `)).join(' ')} }`, 12],
  ])('refuses %s before execution, with HTTP 400', async (_name, query, count) => {
    const { status, body } = await send(query);
    expect(status).toBe(400);
    expect(body).toEqual({
      errors: [
        {
          message: `The operation asks for ${count} previews; one operation may run one`,
          extensions: { code: 'COST_LIMIT_EXCEEDED', limit: 'previewsPerOperation' },
        },
      ],
    });
  });

  it.each([
    ['one preview', `query ${vars} { ${p()} }`, undefined],
    // Fields of one response key are one execution, however often they are selected.
    ['one preview selected twice under the same key', `query ${vars} { ...P ...P ${p()} } fragment P on Query { ${p()} }`, undefined],
    ['one preview per operation of a document with two', `query A ${vars} { ${p()} } query B ${vars} { ${p()} }`, 'B'],
  ])('runs %s', async (_name, query, operationName) => {
    const { status, body } = await send(query, operationName);
    expect(status).toBe(200);
    expect(body).toEqual({ data: { previewSegment: { size: 0 } } });
  });

  it('refuses through the composed supergraph too', async () => {
    const answer = await execute(supergraph.url, `query ${vars} { ${p('a: ')} ${p('b: ')} }`, { rule: inactive }, caller);
    expect(answer.data ?? null).toBeNull();
    expect(answer.errors?.map((e) => [e.message, e.extensions?.code])).toEqual([
      ['The operation asks for 2 previews; one operation may run one', 'COST_LIMIT_EXCEEDED'],
    ]);
    expect(codeOf(await execute(supergraph.url, `query ${vars} { ${p('a: ')} }`, { rule: inactive }, caller))).toBeUndefined();
  });
});
