import { Writable } from 'node:stream';
import type { Job } from 'bullmq';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { bullConnection } from '../../src/stores/redis/bull-connection.js';
import { addOrdersCreated, createOrderEventsQueue, type OrderCreatedEvent, type OrderEventsQueue } from '../../src/jobs/order-events-queue.js';
import type { RunningWorkers } from '../../workers/index.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, TEST_REDIS_URL, type TestStores } from '../helpers/test-environment.js';
import { adminToken } from '../helpers/tokens.js';
import { startTestWorkers } from '../helpers/workers.js';

const CREATE = `mutation ($input: CreateSegmentInput!) { createSegment(input: $input) { id } }`;
const SEGMENTS_OF = `query ($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { id segments { id } } } }`;
// Short, so that an order that never appears is given up on within the test.
const VISIBILITY_WAIT_MS = 5_000;

// Producers whose orders do not pass through the capture trigger
// (ORDER_OUTBOX_TRIGGER=false): only order.created jobs bring orders in, and an
// order may be announced before it is visible here (replica lag, a producer
// racing its own commit). Issue 15.
describe('order.created jobs for orders not visible yet', () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let workers: RunningWorkers;
  let orderEvents: OrderEventsQueue;
  let buyers: number;
  const logLines: Array<{ level: number; msg: string; orderId?: string }> = [];

  const served = async (customerId: string) =>
    ((await execute(subgraph.url, SEGMENTS_OF, { r: [{ __typename: 'Customer', id: customerId }] })).data!._entities[0].segments as Array<{ id: string }>).map(
      (s) => Number(s.id),
    );
  const insertOrder = (orderId: string, customerId: string) =>
    stores.pool.query(`INSERT INTO orders (id, customer_id, store_id, total_cents) VALUES ($1, $2, 'store-A', 1200)`, [orderId, customerId]);
  const jobOf = async (orderId: string): Promise<Job<OrderCreatedEvent>> => {
    const jobs = await orderEvents.getJobs(['active', 'waiting', 'delayed', 'completed', 'failed']);
    return jobs.find((job) => job.data.orderId === orderId)!;
  };
  const stateOf = async (orderId: string) => (await jobOf(orderId))?.getState();

  beforeAll(async () => {
    stores = await createTestStores();
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line)));
        done();
      },
    });
    workers = await startTestWorkers(stores, { orderOutboxTrigger: false, orderVisibilityWaitMs: VISIBILITY_WAIT_MS, logger: pino({ level: 'warn' }, sink) });
    subgraph = await startSubgraph(stores);
    orderEvents = createOrderEventsQueue(bullConnection({ url: TEST_REDIS_URL }, 'test'), stores.keys);
    await stores.pool.query(`INSERT INTO customers (id) VALUES ('c-late'), ('c-on-time'), ('c-ghost')`);
    const created = await execute(
      subgraph.url,
      CREATE,
      { input: { name: 'Bought at store A', rule: { orderCount: { filter: { storeIds: ['store-A'] }, op: 'GTE', value: 1 } } } },
      await adminToken(),
    );
    buyers = Number(created.data!.createSegment.id);
    await vi.waitFor(
      async () => {
        const { rows } = await stores.pool.query('SELECT last_computed_at FROM segments WHERE id = $1', [buyers]);
        if (rows[0].last_computed_at === null) throw new Error('not computed yet');
      },
      { timeout: 30_000, interval: 100 },
    );
  }, 60_000);
  afterAll(async () => {
    await workers?.close();
    await orderEvents?.close();
    await subgraph?.stop();
    await stores?.dispose();
  });

  it('retries a job whose order is not found, without failing its batch, and records the order once it is visible', async () => {
    await insertOrder('o-on-time', 'c-on-time');
    // Added together (the worker takes them in one flush): an order already visible, and one its producer announced before committing it.
    await addOrdersCreated(orderEvents, [
      { type: 'order.created', customerId: 'c-late', orderId: 'o-late' },
      { type: 'order.created', customerId: 'c-on-time', orderId: 'o-on-time' },
    ]);
    await expect.poll(() => served('c-on-time'), { timeout: 5_000, interval: 100 }).toEqual([buyers]);
    expect(await stateOf('o-on-time')).toBe('completed');

    // The missing order's job is not done: it waits to look again, and nothing was recorded for its customer.
    await expect.poll(() => stateOf('o-late'), { timeout: 5_000, interval: 50 }).toBe('delayed');
    const { rows: outbox } = await stores.pool.query(`SELECT 1 FROM customer_change_outbox WHERE customer_id = 'c-late'`);
    expect(outbox).toHaveLength(0);
    expect(await served('c-late')).toEqual([]);

    await insertOrder('o-late', 'c-late');
    await expect.poll(() => served('c-late'), { timeout: 5_000, interval: 100 }).toEqual([buyers]);
    await expect.poll(() => stateOf('o-late'), { timeout: 5_000 }).toBe('completed');
    const job = await jobOf('o-late');
    expect(job.attemptsStarted).toBeGreaterThan(1);
    // Started more than once, but only the attempt that completed counts: waiting used none of the producer's attempts.
    expect(job.attemptsMade).toBe(1);
    expect(job.returnvalue).toEqual({ recorded: true, orderFound: true });
    expect(logLines.filter((line) => line.level >= 40)).toEqual([]);
  });

  it('records the customer for every segment, with a warning, once the order is still not found after the wait', async () => {
    // The customer did order at store A, but the announced order never appears (deleted, or a wrong id):
    // evaluating the customer against every segment finds what is there.
    await insertOrder('o-real', 'c-ghost');
    const started = Date.now();
    await addOrdersCreated(orderEvents, [{ type: 'order.created', customerId: 'c-ghost', orderId: 'o-ghost' }]);
    await expect.poll(() => stateOf('o-ghost'), { timeout: 5_000, interval: 50 }).toBe('delayed');
    expect(await served('c-ghost')).toEqual([]);

    await expect.poll(() => stateOf('o-ghost'), { timeout: VISIBILITY_WAIT_MS + 5_000, interval: 100 }).toBe('completed');
    expect(Date.now() - started).toBeGreaterThanOrEqual(VISIBILITY_WAIT_MS);
    expect((await jobOf('o-ghost')).returnvalue).toEqual({ recorded: true, orderFound: false });
    await expect.poll(() => served('c-ghost'), { timeout: 5_000, interval: 100 }).toEqual([buyers]);
    expect(logLines).toContainEqual(expect.objectContaining({ level: 40, orderId: 'o-ghost' }));
  }, 20_000);
});
