/**
 * npm run bench:pipeline -- [--customers 1000000] [--orders 10000000] [--rates 500,2000]
 *   [--duration 60] [--segments 1000] [--together 200] [--backlog 100000]
 *   [--probes-per-second 10] [--wait-timeout 3600] [--quick]
 *
 * Measures the membership pipeline end to end, with the service running as two
 * child processes (`node dist/src/index.js worker` and `... subgraph`) against
 * real Postgres and Redis:
 *
 * 1. day-one segments (the README's three plus a composite `inSegment` +
 *    country rule): create -> served, a sampled Redis check against
 *    `segment_memberships`, and each segment's full recompute (BullMQ job
 *    `finishedOn - processedOn`) against the bare SQL of its rule;
 * 2. order -> served at each `--rates` insert rate: a load generator inserts
 *    single-row orders with plain SQL while probes insert an order for a member
 *    of "Inactive 60 days" and poll `isInSegment` over HTTP until it is false
 *    (p50/p95/p99/max, timeouts after 30 s, backlog at the end of the load and
 *    10 s later);
 * 3. backlog clearance: `--backlog` orders written while the worker is stopped,
 *    then the time a fresh worker takes to relay, evaluate and publish them;
 * 4. `--together` rule segments created back to back: time until all computed;
 * 5. more segments up to `--segments`, then measurement 2 again, and the p99
 *    ratio of many segments to the four day-one ones;
 * 6. peak RSS (VmHWM) of each worker process.
 *
 * Results print as they complete, then as markdown tables; they are also
 * written to bench/results/pipeline-<ISO timestamp>.json and .md, and the
 * children's logs to bench/results/logs/.
 *
 * `--quick` is a smoke preset (20,000 customers, 200,000 orders, rates 50,200,
 * 10 s, 50 segments, 20 together, backlog 5,000); explicit flags override it.
 *
 * Uses BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/segments_bench_pipeline),
 * REDIS_URL (default redis://127.0.0.1:6379) and BENCH_REDIS_PREFIX (default
 * `bench-pipeline:`). It seeds customers and orders only when their counts
 * differ from the flags, and resets everything else it owns before measuring:
 * every segment, the orders it inserted earlier (ids `bench-...`), the order
 * outbox, and every Redis key under its prefix.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import { migrationsDir } from '../src/paths.js';
import { migrate } from '../src/stores/postgres/migrator.js';
import { seedOrderHistory } from '../src/stores/postgres/order-history-seed.js';
import { SegmentComputationRepository } from '../src/stores/postgres/segment-computation-repository.js';
import { TimeMaintenanceRepository } from '../src/stores/postgres/time-maintenance-repository.js';
import { timeWindows } from '../src/rules/time-windows.js';
import { benchRun, hasExited, peakRssMb, serviceEntry, startChild, stopAllChildren, stopChild, tail } from './bench-processes.js';
import { freePort } from './free-port.js';
import { createPool, ensureDatabase } from '../src/stores/postgres/pool.js';

// Names this benchmark relies on (README "Membership pipeline" and "Data").
const RECOMPUTE_QUEUE = 'segment-recompute';
const RECOMPUTE_JOB = 'recompute-segment';
const ORDER_EVENTS_QUEUE = 'order-events';
const OUTBOX_TABLES = ['order_outbox', 'customer_change_outbox'];

const STORES = 500;
const LOAD_CONNECTIONS = 16;
// The load generator never has more inserts than this in flight; beyond it, it falls behind (achieved < target).
const MAX_IN_FLIGHT = LOAD_CONNECTIONS * 8;
const TICK_MS = 10;
const PROBE_POLL_MS = 25;
const PROBE_TIMEOUT_MS = 30_000;
const SAMPLE_MEMBERS = 2_000;
const RECOMPUTE_RUNS = 3;
const CREATE_BATCH = 25;
const AFTER_LOAD_MS = 10_000;

// ---------------------------------------------------------------- options

const DEFAULTS = {
  customers: 1_000_000,
  orders: 10_000_000,
  rates: [500, 2000],
  duration: 60,
  segments: 1000,
  together: 200,
  backlog: 100_000,
  probesPerSecond: 10,
  waitTimeout: 3600,
};
const QUICK: typeof DEFAULTS = {
  customers: 20_000,
  orders: 200_000,
  rates: [50, 200],
  duration: 10,
  segments: 50,
  together: 20,
  backlog: 5_000,
  probesPerSecond: 10,
  waitTimeout: 180,
};

const { values } = parseArgs({
  options: {
    customers: { type: 'string' },
    orders: { type: 'string' },
    rates: { type: 'string' },
    duration: { type: 'string' },
    segments: { type: 'string' },
    together: { type: 'string' },
    backlog: { type: 'string' },
    'probes-per-second': { type: 'string' },
    'wait-timeout': { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
});
const preset = values.quick ? QUICK : DEFAULTS;
function whole(name: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value.replaceAll('_', ''));
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number of at least ${min} (got ${JSON.stringify(value)})`);
  return n;
}
const options = {
  customers: whole('customers', values.customers, preset.customers, 1),
  orders: whole('orders', values.orders, preset.orders),
  rates: values.rates === undefined ? preset.rates : values.rates.split(',').map((r) => whole('rates', r.trim(), 0, 1)),
  duration: whole('duration', values.duration, preset.duration, 1),
  segments: whole('segments', values.segments, preset.segments),
  together: whole('together', values.together, preset.together),
  backlog: whole('backlog', values.backlog, preset.backlog),
  probesPerSecond: whole('probes-per-second', values['probes-per-second'], preset.probesPerSecond),
  waitTimeout: whole('wait-timeout', values['wait-timeout'], preset.waitTimeout, 1),
  quick: values.quick ?? false,
};
if (options.together > options.segments) options.together = options.segments;

// ---------------------------------------------------------------- helpers

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));
const customerId = (n: number) => `cust-${String(n).padStart(8, '0')}`;
const randomCustomer = () => customerId(1 + Math.floor(Math.random() * options.customers));
const storeId = (n: number) => `store-${String(n).padStart(5, '0')}`;
// Zipf-ish popularity, as in the seed: low store numbers take most orders.
const randomStore = () => storeId(1 + Math.floor(STORES * Math.random() ** 2.5));
const randomTotal = () => 300 + Math.floor(Math.random() ** 2 * 9700);
const seconds = (ms: number) => Number((ms / 1000).toFixed(2));
const round = (n: number, digits = 1) => Number(n.toFixed(digits));

function median(samples: number[]): number | null {
  if (samples.length === 0) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
function percentile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}
function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
const fmt = (n: number | string | null | undefined, digits = 0) =>
  n === null || n === undefined ? 'n/a' : typeof n === 'string' ? n : n.toFixed(digits);

/** Deterministic PRNG (mulberry32), so generated rules are the same in every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function markdownTable(header: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>) => `| ${cells.map(String).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------- the benchmark

interface Backlog {
  outbox: number;
  orderEventsJobs: number;
  unpublishedEvents: number;
}

type Delay = number | string | null;

interface LoadResult {
  segments: string;
  targetRate: number;
  achievedRate: number;
  inserted: number;
  insertErrors: number;
  probes: number;
  probesSkipped: number;
  /** Percentiles over every probe, timeouts included: `">30000"` when one lands on a timeout. */
  p50: Delay;
  p95: Delay;
  p99: Delay;
  max: Delay;
  timeouts: number;
  backlogAtEnd: Backlog;
  backlogAfter10s: Backlog;
  drainSeconds: number | null;
}

async function main() {
  const entry = serviceEntry();

  const run = benchRun('pipeline', options);
  const { databaseUrl, redisUrl, prefix, startedAt, logsDir, results, save } = run;
  const jsonFile = run.resultFile('.json');
  const mdFile = run.resultFile('.md');

  const pool = createPool(databaseUrl, { max: 4, applicationName: 'bench-pipeline' });
  const loadPool = createPool(databaseUrl, { max: LOAD_CONNECTIONS, applicationName: 'bench-pipeline-load' });
  const probePool = createPool(databaseUrl, { max: 4, applicationName: 'bench-pipeline-probe' });
  const redis = new Redis(redisUrl, { connectionName: 'bench-pipeline', maxRetriesPerRequest: 3 });
  const bullPrefix = `${prefix}bull`;
  const connection = { url: redisUrl, maxRetriesPerRequest: null, connectionName: 'bench-pipeline-queues' };
  const recomputeQueue = new Queue(RECOMPUTE_QUEUE, { connection, prefix: bullPrefix });
  const orderEventsQueue = new Queue(ORDER_EVENTS_QUEUE, { connection, prefix: bullPrefix });

  let interrupted = false;
  const interrupt = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\n${signal}: stopping the service processes`);
    void stopAllChildren().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', interrupt).on('SIGTERM', interrupt);

  const count = async (sql: string, params: unknown[] = []) => Number((await pool.query<{ n: string }>(sql, params)).rows[0]!.n);

  try {
    // ------------------------------------------------------------ data set
    await ensureDatabase(databaseUrl);
    await migrate(pool, migrationsDir);
    const outboxTables: string[] = [];
    for (const table of OUTBOX_TABLES) {
      if ((await pool.query('SELECT to_regclass($1) AS t', [table])).rows[0].t !== null) outboxTables.push(table);
    }
    if (outboxTables.length === 0) console.warn('warning: no outbox table found (order_outbox or customer_change_outbox)');
    const outboxSize = async () => {
      let total = 0;
      for (const table of outboxTables) total += await count(`SELECT count(*) AS n FROM ${table}`);
      return total;
    };

    console.log(`database ${String(results.database)}, Redis prefix ${prefix}`);
    // Orders of earlier runs first, so that the counts below see only the seeded history.
    {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query('ALTER TABLE orders DISABLE TRIGGER USER');
        const deleted = await client.query(`DELETE FROM orders WHERE id LIKE 'bench-%'`);
        await client.query('ALTER TABLE orders ENABLE TRIGGER USER');
        await client.query('COMMIT');
        if (deleted.rowCount) console.log(`deleted ${deleted.rowCount} orders of earlier runs`);
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    }
    const haveCustomers = await count('SELECT count(*) AS n FROM customers');
    const haveOrders = await count('SELECT count(*) AS n FROM orders');
    if (haveCustomers === options.customers && haveOrders === options.orders) {
      console.log(`reusing the seeded data: ${haveCustomers} customers, ${haveOrders} orders`);
      results.seed = { reused: true, customers: haveCustomers, orders: haveOrders };
    } else {
      console.log(`seeding ${options.customers} customers and ${options.orders} orders (found ${haveCustomers} and ${haveOrders})...`);
      const started = performance.now();
      await seedOrderHistory(pool, { customers: options.customers, orders: options.orders, stores: STORES }, ({ step, rows, ms }) =>
        console.log(`  ${step}: ${rows === null ? '' : `${rows} rows `}in ${(ms / 1000).toFixed(1)} s`),
      );
      results.seed = { reused: false, customers: options.customers, orders: options.orders, seconds: seconds(performance.now() - started) };
    }

    // ------------------------------------------------------------ reset
    console.log('resetting segments, outbox and Redis keys...');
    await pool.query('TRUNCATE segments RESTART IDENTITY CASCADE');
    for (const table of outboxTables) await pool.query(`TRUNCATE ${table}`);
    let deletedKeys = 0;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deletedKeys += await redis.unlink(...keys);
    } while (cursor !== '0');
    console.log(`  deleted ${deletedKeys} Redis keys under ${prefix}`);
    let started = performance.now();
    await pool.query('VACUUM (ANALYZE) orders');
    console.log(`  VACUUM (ANALYZE) orders: ${seconds(performance.now() - started)} s`);
    const pgVersion = (await pool.query('SHOW server_version')).rows[0].server_version as string;
    results.postgres = pgVersion;
    results.redis = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? null;
    save();

    // ------------------------------------------------------------ service
    const port = await freePort();
    const secret = randomBytes(32).toString('hex');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_ENV: 'production',
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      REDIS_PREFIX: prefix,
      PORT: String(port),
      JWT_SECRET: secret,
      LOG_LEVEL: 'warn',
      ORDER_OUTBOX_TRIGGER: 'true',
    };
    for (const name of ['JWT_ISSUER', 'JWT_AUDIENCE', 'JWT_JWKS_URL', 'GRAPHQL_INTROSPECTION', 'GRAPHQL_LANDING_PAGE']) delete env[name];
    const url = `http://127.0.0.1:${port}/`;
    const token = await new SignJWT({ scope: 'segments:read segments:write' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('bench-pipeline')
      .setIssuedAt()
      .setExpirationTime('24h')
      .sign(new TextEncoder().encode(secret));

    const startWorker = async (n: number) => {
      const child = startChild('worker', entry, env, run.logFile(`worker-${n}`));
      const deadline = performance.now() + 60_000;
      // Ready once BullMQ workers listen on both queues the pipeline needs (BullMQ reads CLIENT LIST).
      while ((await recomputeQueue.getWorkersCount()) === 0 || (await orderEventsQueue.getWorkersCount()) === 0) {
        if (hasExited(child)) throw new Error(`the worker exited (${child.process.exitCode ?? child.process.signalCode}):\n${tail(child.log)}`);
        if (performance.now() > deadline) {
          console.warn('  warning: no BullMQ worker seen on the queues 60 s after the worker started; going on');
          break;
        }
        await sleep(50);
      }
      return child;
    };
    console.log(`starting worker and subgraph (port ${port}), logs in ${logsDir}`);
    let worker = await startWorker(1);
    const subgraph = startChild('subgraph', entry, env, run.logFile('subgraph'));
    {
      const deadline = performance.now() + 60_000;
      for (;;) {
        if (hasExited(subgraph)) throw new Error(`the subgraph exited (${subgraph.process.exitCode ?? subgraph.process.signalCode}):\n${tail(subgraph.log)}`);
        const status = await fetch(`${url}health/ready`).then((r) => r.status, () => 0);
        if (status === 200) break;
        if (performance.now() > deadline) throw new Error(`the subgraph was not ready within 60 s:\n${tail(subgraph.log)}`);
        await sleep(100);
      }
    }

    const graphql = async <T = Record<string, any>>(query: string, variables: Record<string, unknown> = {}, auth = true): Promise<T> => {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await response.json()) as { data?: T; errors?: unknown[] };
      if (body.errors || !body.data) throw new Error(`GraphQL error (HTTP ${response.status}): ${JSON.stringify(body.errors ?? body)}`);
      return body.data;
    };

    const backlog = async (): Promise<Backlog> => {
      const jobs = await orderEventsQueue.getJobCounts('waiting', 'delayed', 'active', 'prioritized');
      return {
        outbox: await outboxSize(),
        orderEventsJobs: (jobs.waiting ?? 0) + (jobs.delayed ?? 0) + (jobs.active ?? 0) + (jobs.prioritized ?? 0),
        unpublishedEvents: await count('SELECT count(*) AS n FROM membership_event_outbox'),
      };
    };
    const recomputeIdle = async () => {
      // Delayed jobs are the schedulers' next runs: not pending work.
      const jobs = await recomputeQueue.getJobCounts('waiting', 'active', 'prioritized');
      return (jobs.waiting ?? 0) + (jobs.active ?? 0) + (jobs.prioritized ?? 0) === 0;
    };

    /** Polls until `done` holds; returns the elapsed ms, or null after --wait-timeout. */
    const waitFor = async (what: string, done: () => Promise<boolean | string>, intervalMs = 100): Promise<number | null> => {
      const begun = performance.now();
      let lastReport = begun;
      for (;;) {
        const state = await done();
        if (state === true) return performance.now() - begun;
        const now = performance.now();
        if (now - begun > options.waitTimeout * 1000) {
          console.log(`  gave up waiting for ${what} after ${options.waitTimeout} s${typeof state === 'string' ? ` (${state})` : ''}`);
          return null;
        }
        if (now - lastReport > 15_000) {
          lastReport = now;
          console.log(`  ...waiting for ${what} (${seconds(now - begun)} s${typeof state === 'string' ? `, ${state}` : ''})`);
        }
        if (hasExited(subgraph)) throw new Error(`the subgraph exited:\n${tail(subgraph.log)}`);
        if (hasExited(worker)) throw new Error(`the worker exited:\n${tail(worker.log)}`);
        await sleep(intervalMs);
      }
    };
    const drained = async (): Promise<boolean | string> => {
      const b = await backlog();
      return b.outbox + b.orderEventsJobs + b.unpublishedEvents === 0 || `outbox ${b.outbox}, order-events jobs ${b.orderEventsJobs}, unpublished events ${b.unpublishedEvents}`;
    };
    const allComputed = (ids: number[]) => async (): Promise<boolean | string> => {
      const pending = await count('SELECT count(*) AS n FROM segments WHERE id = ANY($1::int[]) AND last_computed_at IS NULL', [ids]);
      return pending === 0 || `${pending} of ${ids.length} not computed yet`;
    };
    const served = (ids: number[]) => async (): Promise<boolean | string> => {
      const computed = await allComputed(ids)();
      if (computed !== true) return computed;
      if (!(await recomputeIdle())) return 'recomputes pending';
      const unpublished = await count('SELECT count(*) AS n FROM membership_event_outbox');
      return unpublished === 0 || `${unpublished} unpublished events`;
    };

    const createSegments = async (specs: Array<Record<string, unknown>>): Promise<number[]> => {
      const ids: number[] = [];
      for (let i = 0; i < specs.length; i += CREATE_BATCH) {
        const chunk = specs.slice(i, i + CREATE_BATCH);
        const variables = chunk.map((_, j) => `$i${j}: CreateSegmentInput!`).join(', ');
        const fields = chunk.map((_, j) => `s${j}: createSegment(input: $i${j}) { id }`).join(' ');
        const data = await graphql<Record<string, { id: string }>>(
          `mutation (${variables}) { ${fields} }`,
          Object.fromEntries(chunk.map((spec, j) => [`i${j}`, spec])),
        );
        chunk.forEach((_, j) => ids.push(Number(data[`s${j}`]!.id)));
      }
      return ids;
    };

    // ------------------------------------------------------------ 1. day-one segments
    console.log('\n1. day-one segments');
    const dayOne = await graphql<{ newToStores: { id: string }; recurrent: { id: string }; inactive: { id: string } }>(`mutation {
      newToStores: createSegment(input: { name: "New to partner stores",
        rule: { orderCount: { filter: { storeIds: ["store-00001", "store-00004"] }, op: EQ, value: 0 } } }) { id }
      recurrent: createSegment(input: { name: "Partner store regulars", refreshEveryMinutes: 30,
        rule: { orderCount: { filter: { storeIds: ["store-00001", "store-00004"], withinDays: 30 }, op: GTE, value: 3 } } }) { id }
      inactive: createSegment(input: { name: "Inactive 60 days", rule: { lastOrder: { olderThanDays: 60 } } }) { id }
    }`);
    const createdAt = performance.now();
    const ids = {
      newToStores: Number(dayOne.newToStores.id),
      recurrent: Number(dayOne.recurrent.id),
      inactive: Number(dayOne.inactive.id),
      composite: 0,
    };
    ids.composite = (
      await createSegments([
        {
          name: 'Partner store regulars in Germany',
          rule: { all: [{ inSegment: String(ids.recurrent) }, { attribute: { field: 'country', op: 'EQ', value: 'DE' } }] },
        },
      ])
    )[0]!;
    const dayOneIds = Object.values(ids);
    const computedAfter: Record<string, number | null> = {};
    await waitFor('the day-one segments to be computed', async () => {
      const { rows } = await pool.query<{ id: number; computed: boolean }>(
        'SELECT id, last_computed_at IS NOT NULL AS computed FROM segments WHERE id = ANY($1::int[])',
        [dayOneIds],
      );
      for (const row of rows) {
        const name = Object.entries(ids).find(([, id]) => id === row.id)![0];
        if (row.computed && computedAfter[name] === undefined) computedAfter[name] = round(performance.now() - createdAt);
      }
      return rows.every((r) => r.computed) || `${rows.filter((r) => !r.computed).length} not computed yet`;
    }, 25);
    const servedMs = await waitFor('the day-one memberships to be published', served(dayOneIds), 25);
    const createToServedMs = servedMs === null ? null : performance.now() - createdAt;
    const sizes = Object.fromEntries(
      (await pool.query<{ id: number; size: number }>('SELECT id, size FROM segments WHERE id = ANY($1::int[])', [dayOneIds])).rows.map((r) => [r.id, r.size]),
    );
    console.log(
      `  create -> served: ${createToServedMs === null ? 'timed out' : `${seconds(createToServedMs)} s`} (computed after, ms: ${Object.entries(computedAfter)
        .map(([k, v]) => `${k} ${fmt(v)}`)
        .join(', ')})`,
    );

    // Sampled check: members in Postgres are in Redis.
    const { rows: sample } = await pool.query<{ segment_id: number; customer_id: string }>(
      `SELECT segment_id, customer_id FROM segment_memberships WHERE segment_id = ANY($1::int[]) ORDER BY random() LIMIT $2`,
      [dayOneIds, SAMPLE_MEMBERS],
    );
    const pipeline = redis.pipeline();
    for (const m of sample) pipeline.hexists(`${prefix}c:${m.customer_id}`, String(m.segment_id));
    const answers = (await pipeline.exec()) ?? [];
    const mismatches = answers.filter(([error, value]) => error !== null || value !== 1).length;
    console.log(`  Redis check: ${sample.length} sampled members, ${mismatches} missing from Redis`);

    // Recompute against the bare SQL of each rule: its meaning written by hand, as in the tests
    // (members are rows of customers, so the bare SQL joins them too).
    const bareSql: Record<keyof typeof ids, string> = {
      newToStores: `SELECT count(*) AS n FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.store_id = ANY('{store-00001,store-00004}'))`,
      recurrent: `SELECT count(*) AS n FROM customers c JOIN (SELECT o.customer_id FROM orders o WHERE o.store_id = ANY('{store-00001,store-00004}') AND o.created_at >= now() - interval '30 days' GROUP BY 1 HAVING count(*) >= 3) x ON x.customer_id = c.id`,
      inactive: `SELECT count(*) AS n FROM customers c JOIN (SELECT customer_id FROM orders GROUP BY 1 HAVING max(created_at) < now() - interval '60 days') x ON x.customer_id = c.id`,
      composite: `SELECT count(*) AS n FROM segment_memberships m JOIN customers c ON c.id = m.customer_id WHERE m.segment_id = ${ids.recurrent} AND c.country = 'DE'`,
    };
    const recomputeRows: Array<Record<string, unknown>> = [];
    for (const [name, id] of Object.entries(ids) as Array<[keyof typeof ids, number]>) {
      const jobMs: number[] = [];
      const jobDurationMs: number[] = [];
      const wallMs: number[] = [];
      let failures = 0;
      for (let run = 0; run < RECOMPUTE_RUNS; run++) {
        await waitFor('the recompute queue to be idle', async () => (await recomputeIdle()) || 'jobs pending', 50);
        const requestedAt = Date.now();
        await graphql(`mutation ($id: ID!) { recomputeSegment(id: $id) { id } }`, { id: String(id) });
        let outcome: { processedOn: number; finishedOn: number; workMs: number | null } | 'failed' | undefined;
        await waitFor(`recompute job of segment ${id}`, async () => {
          const ours = (job: { id?: string | undefined; name: string; data: { segmentId?: number }; finishedOn?: number | undefined }) =>
            job.name === RECOMPUTE_JOB && job.data?.segmentId === id && !String(job.id).startsWith('repeat:') && (job.finishedOn ?? 0) >= requestedAt;
          const completed = (await recomputeQueue.getJobs(['completed'], 0, 99, false)).find(ours);
          if (completed?.processedOn && completed.finishedOn) {
            // The job's own account of its work (compute + apply), without the moment it waits to be
            // batched with other requests; the job's duration is reported too.
            const value = completed.returnvalue as { computeMs?: number; applyMs?: number } | null;
            const workMs = typeof value?.computeMs === 'number' && typeof value.applyMs === 'number' ? value.computeMs + value.applyMs : null;
            outcome = { processedOn: completed.processedOn, finishedOn: completed.finishedOn, workMs };
            return true;
          }
          if ((await recomputeQueue.getJobs(['failed'], 0, 99, false)).find(ours)) {
            outcome = 'failed';
            return true;
          }
          return false;
        }, 20);
        if (outcome === undefined || outcome === 'failed') failures++;
        else {
          jobMs.push(outcome.workMs ?? outcome.finishedOn - outcome.processedOn);
          jobDurationMs.push(outcome.finishedOn - outcome.processedOn);
          wallMs.push(outcome.finishedOn - requestedAt);
        }
      }
      const sqlMs: number[] = [];
      let bareCount = 0;
      for (let run = 0; run < RECOMPUTE_RUNS; run++) {
        const begun = performance.now();
        bareCount = await count(bareSql[name]);
        sqlMs.push(performance.now() - begun);
      }
      const size = (await pool.query<{ size: number }>('SELECT size FROM segments WHERE id = $1', [id])).rows[0]!.size;
      const recompute = median(jobMs);
      const sql = median(sqlMs)!;
      const row = {
        segment: name,
        id,
        size,
        bareSqlCount: bareCount,
        recomputeMs: jobMs,
        medianRecomputeMs: recompute,
        medianJobDurationMs: median(jobDurationMs),
        medianRequestToDoneMs: median(wallMs),
        failedRecomputes: failures,
        bareSqlMs: sqlMs.map((v) => round(v)),
        medianBareSqlMs: round(sql),
        ratio: recompute === null ? null : round(recompute / sql, 2),
      };
      recomputeRows.push(row);
      console.log(
        `  ${name.padEnd(12)} size ${String(size).padStart(8)} (bare SQL ${bareCount})  recompute median ${fmt(recompute)} ms  bare SQL median ${fmt(sql)} ms  ratio ${fmt(row.ratio, 2)}x${failures ? `  ${failures} failed/timed out` : ''}`,
      );
    }
    results.dayOne = {
      ids,
      sizes,
      computedAfterMs: computedAfter,
      createToServedMs: createToServedMs === null ? null : round(createToServedMs),
      redisCheck: { sampled: sample.length, mismatches },
      recompute: recomputeRows,
    };
    save();

    // ------------------------------------------------------------ probes and load
    // Room for probe customers that load or backlog orders take out of the segment first (skipped, never reused).
    const probeBudget = Math.min(50_000, Math.ceil(options.probesPerSecond * options.duration * options.rates.length * 2 * 2.5) + 200);
    const probeCustomers = shuffle(
      (
        await pool.query<{ id: string }>('SELECT customer_id AS id FROM segment_memberships WHERE segment_id = $1 ORDER BY random() LIMIT $2', [
          ids.inactive,
          probeBudget,
        ])
      ).rows.map((r) => r.id),
    );
    console.log(`\n${probeCustomers.length} probe customers drawn from "Inactive 60 days" (${sizes[ids.inactive]} members)`);
    let nextProbe = 0;
    let orderNumber = 0;
    const insertOrder = `INSERT INTO orders (id, customer_id, store_id, total_cents, created_at) VALUES ($1, $2, $3, $4, now())`;
    const probeQuery = `query ($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { isInSegment(id: "${ids.inactive}") } } }`;
    const isInactive = async (customers: string[]): Promise<boolean[]> => {
      const data = await graphql<{ _entities: Array<{ isInSegment: boolean } | null> }>(
        probeQuery,
        { r: customers.map((id) => ({ __typename: 'Customer', id })) },
        false,
      );
      return data._entities.map((e) => e?.isInSegment === true);
    };

    const runRate = async (rate: number, label: string): Promise<LoadResult> => {
      console.log(`\n  ${label}: ${rate} orders/s for ${options.duration} s, ${options.probesPerSecond} probes/s`);
      const preDrain = await waitFor('the pipeline to drain before the load', drained, 200);
      if (preDrain === null) console.log('  (starting with a backlog)');

      // Probes wait here for the poller, one _entities request every 25 ms for all of them.
      const pending = new Map<string, { committedAt: number; done: (delay: number | null) => void }>();
      let polling = true;
      const poller = (async () => {
        while (polling || pending.size > 0) {
          const begun = performance.now();
          if (pending.size > 0) {
            const batch = [...pending.keys()];
            try {
              const answers = await isInactive(batch);
              const now = performance.now();
              batch.forEach((id, i) => {
                const probe = pending.get(id)!;
                if (answers[i] === false) {
                  pending.delete(id);
                  probe.done(now - probe.committedAt);
                }
              });
            } catch {
              // A failed poll is retried at the next tick; probes still time out on schedule.
            }
            const now = performance.now();
            for (const [id, probe] of pending) {
              if (now - probe.committedAt > PROBE_TIMEOUT_MS) {
                pending.delete(id);
                probe.done(null);
              }
            }
          }
          await sleep(Math.max(1, PROBE_POLL_MS - (performance.now() - begun)));
        }
      })();
      const delays: number[] = [];
      let timeouts = 0;
      let skipped = 0;
      let probes = 0;
      let probeErrors = 0;
      const probeTasks: Array<Promise<void>> = [];
      const probe = async () => {
        for (;;) {
          const customer = probeCustomers[nextProbe++];
          if (customer === undefined) return;
          // A load order may already have taken this customer out of the segment.
          const [stillIn] = await isInactive([customer]).catch(() => [false]);
          if (!stillIn) {
            skipped++;
            continue;
          }
          try {
            await probePool.query(insertOrder, [`bench-p-${++orderNumber}`, customer, randomStore(), randomTotal()]);
          } catch {
            probeErrors++;
            return;
          }
          probes++;
          const delay = await new Promise<number | null>((done) => pending.set(customer, { committedAt: performance.now(), done }));
          if (delay === null) timeouts++;
          else delays.push(delay);
          return;
        }
      };

      let issued = 0;
      let committed = 0;
      let lastCommitAt = 0;
      let insertErrors = 0;
      let inFlight = 0;
      const begun = performance.now();
      const end = begun + options.duration * 1000;
      const totalInserts = rate * options.duration;
      const totalProbes = options.probesPerSecond * options.duration;
      let probesStarted = 0;
      await new Promise<void>((done) => {
        const timer = setInterval(() => {
          const now = performance.now();
          const elapsedS = now >= end ? options.duration : (now - begun) / 1000;
          const due = Math.min(totalInserts, Math.floor(rate * elapsedS));
          while (issued < due && inFlight < MAX_IN_FLIGHT) {
            issued++;
            inFlight++;
            loadPool
              .query(insertOrder, [`bench-l-${++orderNumber}`, randomCustomer(), randomStore(), randomTotal()])
              .then(
                () => {
                  committed++;
                  lastCommitAt = performance.now();
                },
                () => insertErrors++,
              )
              .finally(() => inFlight--);
          }
          // Probe i starts at i / probes-per-second: the first at once, the last before the load ends.
          while (probesStarted < Math.min(totalProbes, Math.floor(options.probesPerSecond * elapsedS) + 1)) {
            probesStarted++;
            probeTasks.push(probe());
          }
          if (now >= end) {
            clearInterval(timer);
            done();
          }
        }, TICK_MS);
      });
      // The load ends when its last insert has committed (inserts issued in the last tick are still in flight).
      const inFlightDeadline = performance.now() + PROBE_TIMEOUT_MS;
      while (inFlight > 0 && performance.now() < inFlightDeadline) await sleep(5);
      const loadEnded = performance.now();
      const backlogAtEnd = await backlog();
      const elapsedS = Math.max(options.duration, (lastCommitAt - begun) / 1000);
      const achieved = committed / elapsedS;
      console.log(
        `    load done: ${committed} of ${totalInserts} inserts committed in ${elapsedS.toFixed(2)} s (${fmt(achieved, 1)}/s)${inFlight ? `, ${inFlight} still in flight` : ''}${insertErrors ? `, ${insertErrors} errors` : ''}`,
      );
      console.log(`    backlog at end: outbox ${backlogAtEnd.outbox}, order-events jobs ${backlogAtEnd.orderEventsJobs}, unpublished events ${backlogAtEnd.unpublishedEvents}`);
      // Drained: every insert committed, and no outbox row, order-events job or unpublished event left.
      let drainedAfterMs: number | null = null;
      while (performance.now() - loadEnded < AFTER_LOAD_MS) {
        if (drainedAfterMs === null && inFlight === 0 && (await drained()) === true) drainedAfterMs = performance.now() - loadEnded;
        await sleep(Math.min(200, Math.max(1, AFTER_LOAD_MS - (performance.now() - loadEnded))));
      }
      const backlogAfter10s = await backlog();
      console.log(`    backlog 10 s later: outbox ${backlogAfter10s.outbox}, order-events jobs ${backlogAfter10s.orderEventsJobs}, unpublished events ${backlogAfter10s.unpublishedEvents}`);
      await Promise.all(probeTasks);
      polling = false;
      await poller;
      if (drainedAfterMs === null && (await waitFor('the pipeline to drain after the load', drained, 200)) !== null) {
        drainedAfterMs = performance.now() - loadEnded;
      }

      // Timeouts count as infinitely late, so a percentile that lands on one says so instead of hiding it.
      const sorted = [...delays, ...Array.from({ length: timeouts }, () => Infinity)].sort((a, b) => a - b);
      const at = (q: number): Delay => {
        const v = q === 1 ? (sorted.at(-1) ?? null) : percentile(sorted, q);
        return v === null ? null : Number.isFinite(v) ? round(v) : `>${PROBE_TIMEOUT_MS}`;
      };
      const result: LoadResult = {
        segments: label,
        targetRate: rate,
        achievedRate: round(achieved),
        inserted: committed,
        insertErrors: insertErrors + probeErrors,
        probes,
        probesSkipped: skipped,
        p50: at(0.5),
        p95: at(0.95),
        p99: at(0.99),
        max: at(1),
        timeouts,
        backlogAtEnd,
        backlogAfter10s,
        drainSeconds: drainedAfterMs === null ? null : seconds(drainedAfterMs),
      };
      console.log(
        `    order -> served (ms): p50 ${fmt(result.p50)}  p95 ${fmt(result.p95)}  p99 ${fmt(result.p99)}  max ${fmt(result.max)}  over ${probes} probes, ${timeouts} timeouts (> 30 s), ${skipped} skipped${probeErrors ? `, ${probeErrors} probe insert errors` : ''}; drained ${drainedAfterMs === null ? 'NOT within the wait timeout' : `${result.drainSeconds} s after the load stopped`}`,
      );
      if (nextProbe >= probeCustomers.length) console.log('    (the probe customers ran out)');
      return result;
    };

    // ------------------------------------------------------------ 2. order -> served, four segments
    console.log('\n2. order -> served with the four day-one segments');
    const loadFour: LoadResult[] = [];
    for (const rate of options.rates) {
      loadFour.push(await runRate(rate, '4 segments'));
      results.loadFourSegments = loadFour;
      save();
    }

    // ------------------------------------------------------------ 3. backlog clearance
    console.log(`\n3. backlog clearance: ${options.backlog} orders written while the worker is stopped`);
    await waitFor('the pipeline to drain', drained, 200);
    const worker1PeakRssMb = peakRssMb(worker.process.pid);
    started = performance.now();
    await stopChild(worker);
    const workerStopSeconds = seconds(performance.now() - started);
    console.log(`  worker 1 stopped in ${workerStopSeconds} s (peak RSS ${fmt(worker1PeakRssMb)} MB)`);
    started = performance.now();
    for (let from = 0; from < options.backlog; from += 1000) {
      const rows = Math.min(1000, options.backlog - from);
      const base = orderNumber;
      orderNumber += rows;
      await pool.query(
        `INSERT INTO orders (id, customer_id, store_id, total_cents, created_at)
         SELECT 'bench-b-' || ($1::bigint + g),
                'cust-' || lpad((1 + floor(random() * $3::int))::int::text, 8, '0'),
                'store-' || lpad((1 + floor($4::int * power(random(), 2.5)))::int::text, 5, '0'),
                300 + floor(power(random(), 2) * 9700)::bigint,
                now()
           FROM generate_series(1, $2::int) AS g`,
        [base, rows, options.customers, STORES],
      );
    }
    const insertSeconds = seconds(performance.now() - started);
    const backlogOutbox = await outboxSize();
    console.log(`  inserted in ${insertSeconds} s; outbox holds ${backlogOutbox} rows`);
    const restarted = performance.now();
    worker = await startWorker(2);
    const workerReadyMs = performance.now() - restarted;
    let outboxEmptyMs: number | null = null;
    const clearMs = await waitFor('the backlog to clear', async () => {
      const b = await backlog();
      if (b.outbox === 0 && outboxEmptyMs === null) outboxEmptyMs = performance.now() - restarted;
      return b.outbox + b.orderEventsJobs + b.unpublishedEvents === 0 || `outbox ${b.outbox}, order-events jobs ${b.orderEventsJobs}, unpublished events ${b.unpublishedEvents}`;
    }, 100);
    const clearTotalMs = clearMs === null ? null : performance.now() - restarted;
    results.backlog = {
      orders: options.backlog,
      workerStopSeconds,
      insertSeconds,
      outboxRows: backlogOutbox,
      workerStartSeconds: seconds(workerReadyMs),
      outboxEmptySeconds: outboxEmptyMs === null ? null : seconds(outboxEmptyMs),
      clearedSeconds: clearTotalMs === null ? null : seconds(clearTotalMs),
      ordersPerSecond: clearTotalMs === null ? null : round(options.backlog / (clearTotalMs / 1000)),
      worker1PeakRssMb,
    };
    console.log(
      `  worker started in ${seconds(workerReadyMs)} s; outbox empty after ${outboxEmptyMs === null ? 'n/a' : `${seconds(outboxEmptyMs)} s`}; all evaluated and published after ${clearTotalMs === null ? 'n/a (timed out)' : `${seconds(clearTotalMs)} s: ${fmt(options.backlog / (clearTotalMs / 1000))} orders/s`}`,
    );
    save();

    // ------------------------------------------------------------ 4. segments created together
    const generate = ruleGenerator(42);
    const specs = Array.from({ length: options.segments }, (_, i) => generate(i + 1));
    console.log(`\n4. ${options.together} rule segments created together`);
    started = performance.now();
    const togetherIds = await createSegments(specs.slice(0, options.together));
    const togetherRequestMs = performance.now() - started;
    const togetherComputedMs = await waitFor(`${options.together} segments to be computed`, allComputed(togetherIds), 100);
    const togetherComputedTotal = togetherComputedMs === null ? null : performance.now() - started;
    const togetherServed = await waitFor('their memberships to be published', served(togetherIds), 100);
    const togetherServedTotal = togetherServed === null ? null : performance.now() - started;
    results.together = {
      segments: options.together,
      createRequestsSeconds: seconds(togetherRequestMs),
      allComputedSeconds: togetherComputedTotal === null ? null : seconds(togetherComputedTotal),
      allServedSeconds: togetherServedTotal === null ? null : seconds(togetherServedTotal),
    };
    console.log(
      `  created in ${seconds(togetherRequestMs)} s; all computed after ${togetherComputedTotal === null ? 'n/a (timed out)' : `${seconds(togetherComputedTotal)} s`}; all published after ${togetherServedTotal === null ? 'n/a' : `${seconds(togetherServedTotal)} s`}`,
    );
    save();

    // ------------------------------------------------------------ 5. many segments
    console.log(`\n5. ${options.segments} rule segments besides the day-one ones`);
    started = performance.now();
    const moreIds = await createSegments(specs.slice(options.together));
    const moreRequestMs = performance.now() - started;
    const allIds = [...togetherIds, ...moreIds];
    const moreComputed = await waitFor(`${options.segments} segments to be computed`, allComputed(allIds), 200);
    const moreComputedTotal = moreComputed === null ? null : performance.now() - started;
    await waitFor('their memberships to be published', served(allIds), 200);
    const segmentStats = (
      await pool.query<{ n: string; min: number; median: number; max: number; total: string }>(
        `SELECT count(*) AS n, min(size), percentile_disc(0.5) WITHIN GROUP (ORDER BY size) AS median, max(size), sum(size) AS total
           FROM segments WHERE id = ANY($1::int[])`,
        [allIds],
      )
    ).rows[0]!;
    results.many = {
      segments: allIds.length,
      created: moreIds.length,
      createRequestsSeconds: seconds(moreRequestMs),
      allComputedSeconds: moreComputedTotal === null ? null : seconds(moreComputedTotal),
      sizes: { min: segmentStats.min, median: segmentStats.median, max: segmentStats.max, memberships: Number(segmentStats.total) },
    };
    console.log(
      `  created ${moreIds.length} more in ${seconds(moreRequestMs)} s, all computed after ${moreComputedTotal === null ? 'n/a (timed out)' : `${seconds(moreComputedTotal)} s`}; sizes min ${segmentStats.min}, median ${segmentStats.median}, max ${segmentStats.max}, ${segmentStats.total} memberships`,
    );
    save();
    const loadMany: LoadResult[] = [];
    const manyLabel = `${allIds.length + dayOneIds.length} segments`;
    for (const rate of options.rates) {
      loadMany.push(await runRate(rate, manyLabel));
      results.loadManySegments = loadMany;
      save();
    }
    const p99Ratios = options.rates.map((rate, i) => {
      const four = loadFour[i]?.p99;
      const many = loadMany[i]?.p99;
      // null when either p99 is a timeout (or missing): no honest ratio then.
      return { rate, ratio: typeof four === 'number' && typeof many === 'number' && four > 0 ? round(many / four, 2) : null };
    });
    results.p99RatioManyToFour = p99Ratios;
    for (const { rate, ratio } of p99Ratios) {
      console.log(`  p99 with ${manyLabel} / p99 with 4, at ${rate}/s: ${ratio === null ? 'n/a (a p99 is a timeout, or there were no probes)' : `${ratio.toFixed(2)}x`}`);
    }

    // ------------------------------------------------------------ 5b. time maintenance
    // An hour of time passing for every segment at once: watermarks moved back one hour, then the
    // worker's own code queues the customers whose orders crossed a window edge, and the evaluator
    // takes them. Wall time of both is an upper bound of the CPU they used.
    console.log('\n5b. time maintenance of one hour, every segment');
    const timeMaintenance = new TimeMaintenanceRepository(pool);
    const computations = new SegmentComputationRepository(pool);
    const timeDependent = (await computations.liveRuleSegments()).map((s) => ({ id: s.id, windows: timeWindows(s.rule) })).filter((s) => s.windows.length > 0);
    await pool.query(`UPDATE segments SET time_evaluated_at = clock_timestamp() - interval '1 hour' WHERE id = ANY($1::int[]) AND time_evaluated_at IS NOT NULL`, [timeDependent.map((s) => s.id)]);
    started = performance.now();
    const crossings = await timeMaintenance.queueCrossings(timeDependent);
    const queueMs = performance.now() - started;
    await waitFor('crossing customers to be evaluated and published', async () => (await drained()) || 'pending', 100);
    const maintenanceMs = performance.now() - started;
    results.timeMaintenance = {
      segmentsWithWindows: timeDependent.length,
      segmentsMaintained: crossings.segments,
      customersQueued: crossings.customers,
      queueSeconds: seconds(queueMs),
      totalSeconds: seconds(maintenanceMs),
      shareOfOneCorePercent: round((maintenanceMs / 3_600_000) * 100, 3),
    };
    console.log(
      `  ${crossings.segments} of ${timeDependent.length} time-dependent segments, ${crossings.customers} customers queued in ${seconds(queueMs)} s, evaluated and published after ${seconds(maintenanceMs)} s: at most ${round((maintenanceMs / 3_600_000) * 100, 3)}% of one core for an hour`,
    );
    save();

    // ------------------------------------------------------------ 6. peak RSS
    const worker2PeakRssMb = peakRssMb(worker.process.pid);
    const subgraphPeakRssMb = peakRssMb(subgraph.process.pid);
    results.peakRssMb = { worker1: worker1PeakRssMb, worker2: worker2PeakRssMb, subgraph: subgraphPeakRssMb };
    console.log(`\n6. peak RSS: worker 1 ${fmt(worker1PeakRssMb)} MB, worker 2 (backlog and many segments) ${fmt(worker2PeakRssMb)} MB, subgraph ${fmt(subgraphPeakRssMb)} MB`);
    await stopAllChildren();
    results.finishedAt = new Date().toISOString();
    save();

    // ------------------------------------------------------------ report
    const load = (rows: LoadResult[]) =>
      markdownTable(
        ['segments', 'target/s', 'achieved/s', 'probes', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'timeouts', 'backlog at end (outbox / jobs / events)', 'backlog +10 s', 'drained after s'],
        rows.map((r) => [
          r.segments,
          r.targetRate,
          fmt(r.achievedRate, 1),
          r.probes,
          fmt(r.p50),
          fmt(r.p95),
          fmt(r.p99),
          fmt(r.max),
          r.timeouts,
          `${r.backlogAtEnd.outbox} / ${r.backlogAtEnd.orderEventsJobs} / ${r.backlogAtEnd.unpublishedEvents}`,
          `${r.backlogAfter10s.outbox} / ${r.backlogAfter10s.orderEventsJobs} / ${r.backlogAfter10s.unpublishedEvents}`,
          fmt(r.drainSeconds, 1),
        ]),
      );
    const dayOneResult = results.dayOne as { createToServedMs: number | null };
    const backlogResult = results.backlog as Record<string, number | null>;
    const togetherResult = results.together as Record<string, number | null>;
    const markdown = [
      `# Membership pipeline benchmark, ${startedAt.toISOString()}`,
      '',
      `${options.customers} customers, ${options.orders} seeded orders, Postgres ${pgVersion}, Redis ${String(results.redis)}, Node ${process.version}${options.quick ? ' (--quick)' : ''}.`,
      '',
      '## 1. Day-one segments',
      '',
      `create -> served: ${createToServedMs === null ? 'timed out' : `${seconds(dayOneResult.createToServedMs!)} s`}. Redis check: ${mismatches} of ${sample.length} sampled members missing.`,
      '',
      markdownTable(
        ['segment', 'size', 'bare SQL count', 'recompute median ms', 'bare SQL median ms', 'ratio'],
        recomputeRows.map((r) => [String(r.segment), Number(r.size), Number(r.bareSqlCount), fmt(r.medianRecomputeMs as number | null), fmt(r.medianBareSqlMs as number), `${fmt(r.ratio as number | null, 2)}x`]),
      ),
      '',
      '## 2 and 5. Order -> served (probes: members of "Inactive 60 days" ordering, polled every 25 ms)',
      '',
      load([...loadFour, ...loadMany]),
      '',
      `p99 ratio, ${manyLabel} to 4: ${p99Ratios.map((r) => `${r.rate}/s ${r.ratio === null ? 'n/a' : `${r.ratio.toFixed(2)}x`}`).join(', ')}`,
      '',
      '## 3. Backlog clearance',
      '',
      markdownTable(
        ['orders', 'outbox rows', 'outbox empty after s', 'all published after s', 'orders/s'],
        [[options.backlog, backlogOutbox, fmt(backlogResult.outboxEmptySeconds, 1), fmt(backlogResult.clearedSeconds, 1), fmt(backlogResult.ordersPerSecond)]],
      ),
      '',
      '## 4 and 5. Segments created together',
      '',
      markdownTable(
        ['segments', 'create requests s', 'all computed after s', 'all published after s'],
        [
          [options.together, fmt(togetherResult.createRequestsSeconds, 1), fmt(togetherResult.allComputedSeconds, 1), fmt(togetherResult.allServedSeconds, 1)],
          [`+${moreIds.length} (to ${allIds.length})`, fmt(seconds(moreRequestMs), 1), fmt(moreComputedTotal === null ? null : seconds(moreComputedTotal), 1), ''],
        ],
      ),
      '',
      '## 5b. Time maintenance of one hour, every segment',
      '',
      (() => {
        const t = results.timeMaintenance as Record<string, number>;
        return `${t.segmentsMaintained} of ${t.segmentsWithWindows} time-dependent segments, ${t.customersQueued} customers queued in ${t.queueSeconds} s, evaluated and published after ${t.totalSeconds} s: at most ${t.shareOfOneCorePercent}% of one core.`;
      })(),
      '',
      '## 6. Peak RSS (VmHWM)',
      '',
      markdownTable(['process', 'MB'], [
        ['worker 1 (day-one, load with 4 segments)', fmt(worker1PeakRssMb)],
        ['worker 2 (backlog, segments, load with many)', fmt(worker2PeakRssMb)],
        ['subgraph', fmt(subgraphPeakRssMb)],
      ]),
      '',
    ].join('\n');
    writeFileSync(mdFile, markdown);
    console.log(`\n${markdown}`);
    console.log(`results: ${jsonFile}\n         ${mdFile}`);
  } finally {
    if (!interrupted) await stopAllChildren();
    await Promise.allSettled([recomputeQueue.close(), orderEventsQueue.close()]);
    redis.disconnect();
    await Promise.allSettled([pool.end(), loadPool.end(), probePool.end()]);
  }
}

// ---------------------------------------------------------------- generated rules

type Rule = Record<string, unknown>;

/** Realistic, varied rule segments, the same for the same seed. */
function ruleGenerator(seed: number): (n: number) => { name: string; rule: Rule; refreshEveryMinutes: number } {
  const random = prng(seed);
  const int = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
  const stores = () => [...new Set(Array.from({ length: int(1, 3) }, () => storeId(1 + Math.floor(STORES * random() ** 2.5))))];
  // Segments as campaigns use them: most select a few percent of customers (regulars of a few
  // stores, big spenders, lapsed customers of a store in one city), a few select many.
  const orderCondition = (): [string, Rule] => {
    const kind = random();
    if (kind < 0.4) {
      return ['regulars', { orderCount: { filter: { storeIds: stores(), withinDays: int(7, 90) }, op: 'GTE', value: int(2, 5) } }];
    }
    if (kind < 0.6) {
      return ['lapsed', { lastOrder: { filter: { storeIds: stores() }, olderThanDays: int(30, 180) } }];
    }
    if (kind < 0.8) {
      const filter: Rule = { withinDays: int(30, 365) };
      if (random() < 0.4) filter.storeIds = stores();
      return ['big spenders', { orderTotal: { filter, op: 'GTE', value: int(50, 300) * 1000 } }];
    }
    if (kind < 0.9) {
      // Active customers who never tried these stores.
      return ['never tried', { all: [{ orderCount: { filter: { storeIds: stores() }, op: 'EQ', value: 0 } }, { lastOrder: { withinDays: int(7, 30) } }] }];
    }
    return ['inactive', { lastOrder: { olderThanDays: int(60, 365) } }];
  };
  const attribute = (): Rule => {
    const pick = random();
    if (pick < 0.4) return { attribute: { field: 'country', op: 'EQ', value: ['DE', 'FR', 'ES', 'IT', 'PL'][int(0, 4)] } };
    if (pick < 0.6) return { attribute: { field: 'country', op: 'IN', values: ['DE', 'FR'] } };
    const cities = ['Berlin', 'Hamburg', 'Munich', 'Paris', 'Lyon', 'Madrid', 'Milan', 'Warsaw'];
    if (pick < 0.85) return { attribute: { field: 'city', op: 'EQ', value: cities[int(0, cities.length - 1)] } };
    return { attribute: { field: 'city', op: 'NOT_IN', values: [cities[int(0, 3)]!, cities[int(4, 7)]!] } };
  };
  return (n) => {
    const [kind, condition] = orderCondition();
    const combine = random();
    let name = kind;
    let rule: Rule = condition;
    if (combine < 0.3 || kind === 'inactive' || kind === 'lapsed') {
      name = `${kind} by place`;
      rule = { all: [condition, attribute()] };
    } else if (combine < 0.4) {
      const [other, second] = orderCondition();
      name = `${kind} and ${other}`;
      rule = { all: [condition, second] };
    }
    return { name: `bench ${String(n).padStart(4, '0')} ${name}`, rule, refreshEveryMinutes: 1440 };
  };
}

main().then(
  () => process.exit(0),
  async (error: unknown) => {
    console.error(error);
    await stopAllChildren();
    process.exit(1);
  },
);
