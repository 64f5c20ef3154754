/**
 * npm run bench:pipeline -- [--customers 1000000] [--orders 10000000] [--rates 500,2000]
 *   [--duration 60] [--segments 1000] [--together 200] [--mix campaign|varied]
 *   [--workers 1[,2,3]] [--backlog 100000] [--probes-per-second 10] [--wait-timeout 3600]
 *   [--cluster] [--reconciler-baseline] [--quick]
 *
 * Measures the membership pipeline end to end (issue 15, "The pipeline at
 * 10,000 segments"), with the service running as child processes
 * (`--workers` times `node dist/src/index.js worker`, each with its own
 * WORKER_PORT and LOG_LEVEL=debug, and one `... subgraph`) against real
 * Postgres and Redis:
 *
 * 1. day-one segments (the reference design's three kinds plus a composite `inSegment` +
 *    country rule): create -> served; each one's first computation (create ->
 *    computed) against the bare SQL that finds its members and writes their
 *    ids (`CREATE TABLE ... AS` the rule's compiled members query, target
 *    <= 3x); a sampled Redis check against `segment_memberships`; each
 *    segment's full recompute (BullMQ job `finishedOn - processedOn`) against
 *    the bare SQL of its rule (target <= 1.5x);
 * 2. order -> served at each `--rates` insert rate: a load generator inserts
 *    single-row orders with plain SQL while probes insert an order for a member
 *    of "Inactive 60 days" and poll `isInSegment` over HTTP until it is false
 *    (p50/p95/p99/max, timeouts after 30 s, backlog at the end of the load and
 *    10 s later), and the cost table of the batches evaluated meanwhile;
 * 3. event throughput with N workers, for each N of `--workers 1,2,3` (the
 *    first N runs the other phases): `--backlog` orders (each drain a draw of
 *    its own, the same in every run) written while the workers are stopped; N fresh workers start while
 *    the outbox is locked, so that all of them begin together, and the time
 *    from the lock's release until the outbox is empty gives orders/s; the
 *    CPU each worker process, the database's backends and Redis used over the
 *    drain, per order;
 * 4. `--together` segments of `--mix` created back to back: time until all
 *    computed and published;
 * 5. more segments up to `--segments`, then measurement 2 again, the p99 ratio
 *    of many segments to the four day-one ones, and (5c) measurement 3 again;
 *    5b: time maintenance with the many segments: watermarks moved back, the
 *    worker's own `time-maintenance` job, until its customers are evaluated
 *    and published; CPU of the workers and the database's backends, as a
 *    share of one core averaged over an hour, from one run of an hour and
 *    from runs of the real period (TIME_MAINTENANCE_EVERY_MS);
 * 6. peak RSS (VmHWM) of each worker process;
 * 7. storage per membership in Postgres (memberships, events) and in Redis
 *    (`MEMORY USAGE` over ~1,000 customer keys), projected to 100,000
 *    segments over 10M customers.
 *
 * The cost table (one row per phase) comes from the workers' debug log lines
 * "changes evaluated": batches, changes per batch, customers, distinct
 * conditions, segments evaluated, flips (entered + left), ms per batch and
 * time per order (ms / changes). A field the worker does not log is n/a.
 *
 * `--mix campaign` (the default) is issue 15's campaign mix; `--mix varied`
 * the mix of earlier runs (see bench-segment-mix.ts). Both are deterministic.
 *
 * Results print as they complete, then as markdown tables; they are also
 * written to bench/results/pipeline-<ISO timestamp>.json and .md, and the
 * children's logs to bench/results/logs/.
 *
 * `--cluster` starts a three-master Redis Cluster of the run's own (ports and
 * a folder of its own, `redis-server --cluster-enabled yes`, torn down after)
 * and runs every process against it (REDIS_CLUSTER_NODES). With
 * `--reconciler-baseline`, measurement 2 at the last rate runs once more with
 * the workers' serving-store reconciler off (SERVING_RECONCILE_BATCH=0): what
 * the reconciler costs order -> served, measured in the same run.
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
import { Job, Queue } from 'bullmq';
import { SignJWT } from 'jose';
import pg from 'pg';
import { MAINTENANCE_QUEUE, TIME_MAINTENANCE_EVERY_MS } from '../src/jobs/maintenance-queue.js';
import { migrationsDir } from '../src/platform/paths.js';
import { compileMembersQuery, type SqlQuery } from '../src/rules/compile-sql.js';
import type { Rule } from '../src/rules/rule.js';
import { timeWindows } from '../src/rules/time-windows.js';
import { migrate } from '../src/stores/postgres/migrator.js';
import { seedOrderHistory } from '../src/stores/postgres/order-history-seed.js';
import { createPool, ensureDatabase } from '../src/stores/postgres/pool.js';
import { SegmentComputationRepository } from '../src/stores/postgres/segment-computation-repository.js';
import { bullConnection, closeBullConnection } from '../src/stores/redis/bull-connection.js';
import { closeRedis, createRedis, type RedisClient, type RedisTarget } from '../src/stores/redis/client.js';
import { redisKeys } from '../src/stores/redis/keys.js';
import { masterNodes } from '../src/stores/redis/shard-nodes.js';
import { createLogger } from '../src/platform/logger.js';
import { startRedisCluster, type LocalRedisCluster } from '../test/helpers/redis-cluster.js';
import { BATCH_COST_HEADER, batchCostRow, batchCosts, readBatchLines, readLogLines, type BatchCosts } from './bench-batch-costs.js';
import { gigabytes, membershipStorage, type MembershipStorage } from './bench-membership-storage.js';
import {
  benchRun,
  CpuMeter,
  hasExited,
  peakRssMb,
  serviceEntry,
  startChild,
  stopAllChildren,
  stopChild,
  tail,
  type Child,
} from './bench-processes.js';
import { prng, SEEDED_STORES, SEGMENT_MIXES, segmentMix, storeId, type SegmentMix, type SegmentSpec } from './bench-segment-mix.js';
import { freePort } from './free-port.js';

// Names this benchmark relies on (docs/pipeline.md and "Data").
const RECOMPUTE_QUEUE = 'segment-recompute';
const RECOMPUTE_JOB = 'recompute-segment';
const ORDER_EVENTS_QUEUE = 'order-events';
const TIME_MAINTENANCE_JOB = 'time-maintenance';
const OUTBOX_TABLES = ['order_outbox', 'customer_change_outbox'];

const LOAD_CONNECTIONS = 16;
// The load generator never has more inserts than this in flight; beyond it, it falls behind (achieved < target).
const MAX_IN_FLIGHT = LOAD_CONNECTIONS * 8;
const TICK_MS = 10;
const PROBE_POLL_MS = 25;
const PROBE_TIMEOUT_MS = 30_000;
const SAMPLE_MEMBERS = 2_000;
const RECOMPUTE_RUNS = 3;
const FIRST_COMPUTATION_SQL_RUNS = 3;
// createSegment mutations per request, and requests in flight: creation of 10,000 takes minutes, not an hour.
const CREATE_BATCH = 25;
const CREATE_PARALLEL = 4;
const AFTER_LOAD_MS = 10_000;
const SEGMENT_SEED = 42;
// The backlog's orders are drawn from this seed: the same orders in every run, and in 3 and 5c.
const BACKLOG_SEED = 15;
const TIME_MAINTENANCE_PERIOD_RUNS = 3;
const HOUR_MS = 3_600_000;

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
    mix: { type: 'string', default: 'campaign' },
    workers: { type: 'string' },
    backlog: { type: 'string' },
    'probes-per-second': { type: 'string' },
    'wait-timeout': { type: 'string' },
    cluster: { type: 'boolean', default: false },
    'reconciler-baseline': { type: 'boolean', default: false },
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
function mixOption(value: string): SegmentMix {
  const mix = SEGMENT_MIXES.find((m) => m === value);
  if (!mix) throw new Error(`--mix must be one of ${SEGMENT_MIXES.join(', ')} (got ${JSON.stringify(value)})`);
  return mix;
}
const options = {
  customers: whole('customers', values.customers, preset.customers, 1),
  orders: whole('orders', values.orders, preset.orders),
  rates: values.rates === undefined ? preset.rates : values.rates.split(',').map((r) => whole('rates', r.trim(), 0, 1)),
  duration: whole('duration', values.duration, preset.duration, 1),
  segments: whole('segments', values.segments, preset.segments),
  together: whole('together', values.together, preset.together),
  mix: mixOption(values.mix ?? 'campaign'),
  /** Worker processes of each drain of 3 and 5c; the first runs the other phases. */
  workerCounts: values.workers === undefined ? [1] : values.workers.split(',').map((n) => whole('workers', n.trim(), 0, 1)),
  backlog: whole('backlog', values.backlog, preset.backlog),
  probesPerSecond: whole('probes-per-second', values['probes-per-second'], preset.probesPerSecond),
  waitTimeout: whole('wait-timeout', values['wait-timeout'], preset.waitTimeout, 1),
  cluster: values.cluster ?? false,
  reconcilerBaseline: values['reconciler-baseline'] ?? false,
  quick: values.quick ?? false,
};
const firstWorkers = options.workerCounts[0]!;
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
if (options.together > options.segments) options.together = options.segments;

// ---------------------------------------------------------------- helpers

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));
const customerId = (n: number) => `cust-${String(n).padStart(8, '0')}`;
const randomCustomer = () => customerId(1 + Math.floor(Math.random() * options.customers));
// Zipf-ish popularity, as in the seed: low store numbers take most orders.
const storeAt = (random: number) => storeId(1 + Math.floor(SEEDED_STORES * random ** 2.5));
const totalAt = (random: number) => 300 + Math.floor(random ** 2 * 9700);
const randomStore = () => storeAt(Math.random());
const randomTotal = () => totalAt(Math.random());
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

function markdownTable(header: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>) => `| ${cells.map(String).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/**
 * A compiled query with its parameters written in as literals, for the
 * statements that take none (`CREATE TABLE AS` is not preparable). The
 * compiler's values are text, text arrays, numbers and instants.
 */
function inlineParameters({ text, values }: SqlQuery): string {
  const literal = (value: unknown): string => {
    if (value === null || value === undefined) return 'NULL';
    if (Array.isArray(value)) return pg.escapeLiteral(`{${value.map((v) => `"${String(v).replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`).join(',')}}`);
    if (value instanceof Date) return pg.escapeLiteral(value.toISOString());
    if (typeof value === 'number') return pg.escapeLiteral(String(value));
    if (typeof value === 'string') return pg.escapeLiteral(value);
    if (typeof value === 'bigint' || typeof value === 'boolean') return pg.escapeLiteral(String(value));
    throw new Error(`a compiled rule's parameter of an unexpected kind: ${JSON.stringify(value)}`);
  };
  return text.replace(/\$(\d+)/g, (_, i: string) => literal(values[Number(i) - 1]));
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
  /** The batches evaluated from the start of the load until it drained. */
  batchCosts: BatchCosts;
}

/** Measurement 3 (and 5c): a backlog written while the workers are stopped, evaluated by N fresh workers. */
interface ThroughputResult {
  segments: string;
  workers: number;
  orders: number;
  workerStopSeconds: number;
  insertSeconds: number;
  outboxRows: number;
  workerStartSeconds: number;
  /** Whether the outbox was locked until every worker was ready (false: the first began alone). */
  gated: boolean;
  outboxEmptySeconds: number | null;
  clearedSeconds: number | null;
  /** Orders over the time from the start (the lock's release) until the outbox was empty. */
  ordersPerSecond: number | null;
  /** Orders over the time until every change was evaluated and published. */
  ordersPerSecondPublished: number | null;
  /** What each worker evaluated: with one evaluator per deployment, one worker takes everything. */
  shares: Array<{ worker: number; batches: number; changes: number }>;
  /** CPU used from the lock's release until all was published, in µs per order of the backlog. */
  cpuPerOrderUs: { workers: number[]; workersTotal: number; postgres: number; redis: number } | null;
  batchCosts: BatchCosts;
}

/** One time-maintenance run of 5b: watermarks moved back `stepMs`, then the worker's job and the evaluation it queued. */
interface TimeMaintenanceRun {
  stepMs: number;
  segments: number | null;
  customers: number | null;
  wallMs: number;
  workerCpuMs: number;
  postgresCpuMs: number;
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
  const cluster: LocalRedisCluster | null = options.cluster ? await startRedisCluster(3, { relays: false }) : null;
  const target: RedisTarget = cluster ? { clusterNodes: cluster.nodes } : { url: redisUrl };
  const redis: RedisClient = createRedis(target, { connectionName: 'bench-pipeline', logger: createLogger('warn') });
  const keys = redisKeys(prefix, cluster ? 'cluster' : 'single');
  const connection = bullConnection(target, 'bench-pipeline-queues');
  const recomputeQueue = new Queue(RECOMPUTE_QUEUE, { connection, prefix: keys.bullPrefix(RECOMPUTE_QUEUE) });
  const orderEventsQueue = new Queue(ORDER_EVENTS_QUEUE, { connection, prefix: keys.bullPrefix(ORDER_EVENTS_QUEUE) });
  const maintenanceQueue = new Queue(MAINTENANCE_QUEUE, { connection, prefix: keys.bullPrefix(MAINTENANCE_QUEUE) });

  let interrupted = false;
  const interrupt = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\n${signal}: stopping the service processes`);
    void stopAllChildren()
      .then(() => cluster?.stop())
      .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
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

    console.log(`database ${String(results.database)}, Redis ${cluster ? `a three-master cluster (${cluster.nodes.map((n) => n.port).join(', ')})` : redisUrl}, prefix ${prefix}`);
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
      await seedOrderHistory(pool, { customers: options.customers, orders: options.orders, stores: SEEDED_STORES }, ({ step, rows, ms }) =>
        console.log(`  ${step}: ${rows === null ? '' : `${rows} rows `}in ${(ms / 1000).toFixed(1)} s`),
      );
      results.seed = { reused: false, customers: options.customers, orders: options.orders, seconds: seconds(performance.now() - started) };
    }

    // ------------------------------------------------------------ reset
    console.log('resetting segments, outbox and Redis keys...');
    await pool.query('TRUNCATE segments, segment_memberships, segment_membership_events, membership_event_outbox, segment_size_deltas, segment_evaluations RESTART IDENTITY CASCADE');
    for (const table of outboxTables) await pool.query(`TRUNCATE ${table}`);
    let deletedKeys = 0;
    for (const node of await masterNodes(redis)) {
      let cursor = '0';
      do {
        const [next, found] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        // One key a command, a pipeline a batch: on a cluster the keys of a scan lie in many slots.
        const pipeline = node.pipeline();
        for (const key of found) pipeline.unlink(key);
        for (const [error, removed] of (await pipeline.exec()) ?? []) if (!error) deletedKeys += Number(removed);
      } while (cursor !== '0');
    }
    console.log(`  deleted ${deletedKeys} Redis keys under ${prefix}`);
    let started = performance.now();
    await pool.query('VACUUM (ANALYZE) orders');
    console.log(`  VACUUM (ANALYZE) orders: ${seconds(performance.now() - started)} s`);
    const pgVersion = (await pool.query('SHOW server_version')).rows[0].server_version as string;
    results.postgres = pgVersion;
    const redisMasters = await masterNodes(redis);
    const redisInfo = await Promise.all(redisMasters.map((node) => node.info('server')));
    results.redis = `${/redis_version:(\S+)/.exec(redisInfo[0]!)?.[1] ?? 'unknown'}${cluster ? `, cluster of ${redisMasters.length} masters` : ''}`;
    // The Redis processes on this machine, for the CPU of each drain (the stores run here).
    const redisPids = redisInfo.map((info) => Number(/process_id:(\d+)/.exec(info)?.[1])).filter((pid) => Number.isInteger(pid));
    save();

    // ------------------------------------------------------------ service
    const port = await freePort();
    const secret = randomBytes(32).toString('hex');
    // Requests come as the router's would: with the subgraph's shared secret.
    const routerSecret = randomBytes(32).toString('hex');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_ENV: 'production',
      DATABASE_URL: databaseUrl,
      ...(cluster ? { REDIS_CLUSTER_NODES: cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',') } : { REDIS_URL: redisUrl }),
      REDIS_PREFIX: prefix,
      PORT: String(port),
      JWT_SECRET: secret,
      ROUTER_SHARED_SECRET: routerSecret,
      LOG_LEVEL: 'warn',
      ORDER_OUTBOX_TRIGGER: 'true',
    };
    for (const name of [cluster ? 'REDIS_URL' : 'REDIS_CLUSTER_NODES', 'JWT_ISSUER', 'JWT_AUDIENCE', 'JWT_JWKS_URL', 'GRAPHQL_INTROSPECTION', 'GRAPHQL_LANDING_PAGE']) delete env[name];
    const url = `http://127.0.0.1:${port}/`;
    const token = await new SignJWT({ scope: 'segments:read segments:write' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('bench-pipeline')
      .setIssuedAt()
      .setExpirationTime('24h')
      .sign(new TextEncoder().encode(secret));

    // The workers log every evaluated batch at debug level: the cost tables read them.
    const workerLogs: string[] = [];
    let workersStarted = 0;
    let workers: Child[] = [];
    /** Peak RSS of each worker, read just before it is stopped. */
    const workerPeakRss: Array<{ worker: number; phase: string; peakRssMb: number | null }> = [];
    const startWorker = async (phase: string, opsPort: number, extraEnv: NodeJS.ProcessEnv) => {
      const n = ++workersStarted;
      const child = startChild('worker', entry, { ...env, ...extraEnv, WORKER_PORT: String(opsPort), LOG_LEVEL: 'debug' }, run.logFile(`worker-${n}`));
      workerLogs.push(child.log);
      const deadline = performance.now() + 60_000;
      // Ready once its operations listener answers: it listens after the BullMQ workers and the evaluator started.
      for (;;) {
        if (hasExited(child)) throw new Error(`worker ${n} exited (${child.process.exitCode ?? child.process.signalCode}):\n${tail(child.log)}`);
        const status = await fetch(`http://127.0.0.1:${opsPort}/health/ready`).then((r) => r.status, () => 0);
        if (status === 200) break;
        if (performance.now() > deadline) {
          console.warn(`  warning: worker ${n} not ready 60 s after it started; going on`);
          break;
        }
        await sleep(50);
      }
      return { n, phase, child };
    };
    let workerNumbers = new Map<Child, { n: number; phase: string }>();
    /** Starts `count` worker processes at once; resolves when all are ready. */
    const startWorkers = async (phase: string, count: number, extraEnv: NodeJS.ProcessEnv = {}): Promise<Child[]> => {
      // Ports first, and distinct (a port freePort found is free only until it is taken); then the processes start together.
      const ports = new Set<number>();
      while (ports.size < count) {
        const candidate = await freePort();
        if (candidate !== port) ports.add(candidate); // the subgraph's, which may not listen yet
      }
      const ready = await Promise.all([...ports].map((opsPort) => startWorker(phase, opsPort, extraEnv)));
      workerNumbers = new Map(ready.map((w) => [w.child, { n: w.n, phase: w.phase }]));
      return ready.map((w) => w.child);
    };
    const stopWorkers = async () => {
      for (const child of workers) {
        const { n, phase } = workerNumbers.get(child)!;
        workerPeakRss.push({ worker: n, phase, peakRssMb: peakRssMb(child.process.pid) });
      }
      const stopping = workers;
      workers = [];
      await Promise.all(stopping.map(stopChild));
    };
    console.log(`starting ${plural(firstWorkers, 'worker')} and the subgraph (port ${port}), logs in ${logsDir}`);
    workers = await startWorkers('day-one, load with 4 segments', firstWorkers);
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
        headers: { 'content-type': 'application/json', 'router-authorization': routerSecret, ...(auth ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await response.json()) as { data?: T; errors?: unknown[] };
      if (body.errors || !body.data) throw new Error(`GraphQL error (HTTP ${response.status}): ${JSON.stringify(body.errors ?? body)}`);
      return body.data;
    };

    /** The cost table of one phase, indented under its figures. */
    const printCosts = (phase: string, costs: BatchCosts) => {
      const table = markdownTable(BATCH_COST_HEADER, [batchCostRow(phase, costs)]);
      console.log(`    cost per batch (worker debug log "changes evaluated"):\n${table.replace(/^/gm, '    ')}`);
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
        for (const worker of workers) if (hasExited(worker)) throw new Error(`a worker exited:\n${tail(worker.log)}`);
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

    /** Creates segments CREATE_BATCH per request, CREATE_PARALLEL requests at a time; their ids in the order given. */
    const createSegments = async (specs: ReadonlyArray<SegmentSpec | { name: string; rule: Rule }>): Promise<number[]> => {
      const ids: number[] = new Array<number>(specs.length);
      let next = 0;
      const sender = async () => {
        while (next < specs.length) {
          const from = next;
          next += CREATE_BATCH;
          const chunk = specs.slice(from, from + CREATE_BATCH);
          const variables = chunk.map((_, j) => `$i${j}: CreateSegmentInput!`).join(', ');
          const fields = chunk.map((_, j) => `s${j}: createSegment(input: $i${j}) { id }`).join(' ');
          const data = await graphql<Record<string, { id: string }>>(
            `mutation (${variables}) { ${fields} }`,
            Object.fromEntries(chunk.map((spec, j) => [`i${j}`, spec])),
          );
          chunk.forEach((_, j) => (ids[from + j] = Number(data[`s${j}`]!.id)));
        }
      };
      await Promise.all(Array.from({ length: CREATE_PARALLEL }, sender));
      return ids;
    };

    // ------------------------------------------------------------ 1. day-one segments
    console.log('\n1. day-one segments');
    const partnerStores = ['store-00001', 'store-00004'];
    const dayOneRules: Record<'newToStores' | 'recurrent' | 'inactive', SegmentSpec | { name: string; rule: Rule }> = {
      newToStores: { name: 'New to partner stores', rule: { orderCount: { filter: { storeIds: partnerStores }, op: 'EQ', value: 0 } } },
      recurrent: {
        name: 'Partner store regulars',
        refreshEveryMinutes: 30,
        rule: { orderCount: { filter: { storeIds: partnerStores, withinDays: 30 }, op: 'GTE', value: 3 } },
      },
      inactive: { name: 'Inactive 60 days', rule: { lastOrder: { olderThanDays: 60 } } },
    };
    const [newToStores, recurrent, inactive] = await createSegments([dayOneRules.newToStores, dayOneRules.recurrent, dayOneRules.inactive]);
    const createdAt = performance.now();
    const ids = { newToStores: newToStores!, recurrent: recurrent!, inactive: inactive!, composite: 0 };
    ids.composite = (
      await createSegments([
        {
          name: 'Partner store regulars in Germany',
          rule: { all: [{ inSegment: String(ids.recurrent) }, { attribute: { field: 'country', op: 'EQ', value: 'DE' } }] },
        },
      ])
    )[0]!;
    // Each segment's first computation counts from its own creation (the composite needs the regulars' id first).
    const createdAtOf: Record<keyof typeof ids, number> = { newToStores: createdAt, recurrent: createdAt, inactive: createdAt, composite: performance.now() };
    const dayOneIds = Object.values(ids);
    const computedAfter: Partial<Record<keyof typeof ids, number>> = {};
    await waitFor('the day-one segments to be computed', async () => {
      const { rows } = await pool.query<{ id: number; computed: boolean }>(
        'SELECT id, last_computed_at IS NOT NULL AS computed FROM segments WHERE id = ANY($1::int[])',
        [dayOneIds],
      );
      for (const row of rows) {
        const name = (Object.keys(ids) as Array<keyof typeof ids>).find((key) => ids[key] === row.id)!;
        if (row.computed && computedAfter[name] === undefined) computedAfter[name] = round(performance.now() - createdAtOf[name]);
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

    // First computation against the bare SQL that finds the members and writes their ids: the rule
    // as stored, compiled as of now, into a scratch table (issue 15: at most 3x).
    const storedRules = new Map(
      (await pool.query<{ id: number; rule: Rule }>('SELECT id, rule FROM segments WHERE id = ANY($1::int[])', [dayOneIds])).rows.map((r) => [r.id, r.rule]),
    );
    // The first job's own account of its work (compute + apply; one round may compute several segments), to tell it from waiting.
    const firstJobs = (await recomputeQueue.getJobs(['completed'], 0, 199, false)).filter((job) => job.name === RECOMPUTE_JOB && job.finishedOn);
    const firstJobWorkMs = (id: number) => {
      const job = firstJobs.filter((j) => j.data?.segmentId === id).sort((a, b) => a.finishedOn! - b.finishedOn!)[0];
      const value = job?.returnvalue as { computeMs?: number; applyMs?: number } | null | undefined;
      return typeof value?.computeMs === 'number' && typeof value.applyMs === 'number' ? value.computeMs + value.applyMs : null;
    };
    const scratch = 'bench_first_computation';
    const firstComputationRows: Array<{
      segment: string;
      createToComputedMs: number | null;
      firstJobWorkMs: number | null;
      createTableAsMs: number[];
      medianCreateTableAsMs: number;
      rows: number;
      ratio: number | null;
    }> = [];
    for (const name of Object.keys(ids) as Array<keyof typeof ids>) {
      const statement = inlineParameters(compileMembersQuery(storedRules.get(ids[name])!, { asOf: new Date() }));
      const runs: number[] = [];
      let rows = 0;
      for (let run = 0; run < FIRST_COMPUTATION_SQL_RUNS; run++) {
        await pool.query(`DROP TABLE IF EXISTS ${scratch}`);
        const begun = performance.now();
        rows = (await pool.query(`CREATE TABLE ${scratch} AS ${statement}`)).rowCount ?? 0;
        runs.push(round(performance.now() - begun));
      }
      await pool.query(`DROP TABLE IF EXISTS ${scratch}`);
      const sql = median(runs)!;
      const computed = computedAfter[name] ?? null;
      const row = {
        segment: name,
        createToComputedMs: computed,
        firstJobWorkMs: firstJobWorkMs(ids[name]),
        createTableAsMs: runs,
        medianCreateTableAsMs: round(sql),
        rows,
        ratio: computed === null ? null : round(computed / sql, 2),
      };
      firstComputationRows.push(row);
      console.log(
        `  first computation ${name.padEnd(12)} create -> computed ${fmt(computed)} ms (job's work ${fmt(row.firstJobWorkMs)} ms)  CREATE TABLE AS median ${fmt(sql)} ms (${rows} rows)  ratio ${fmt(row.ratio, 2)}x (target <= 3x)`,
      );
    }

    // Sampled check: members in Postgres are in Redis.
    const { rows: sample } = await pool.query<{ segment_id: number; customer_id: string }>(
      `SELECT segment_id, customer_id FROM segment_memberships WHERE segment_id = ANY($1::int[]) ORDER BY random() LIMIT $2`,
      [dayOneIds, SAMPLE_MEMBERS],
    );
    // One command a member, all in flight at once: on a cluster they go to many nodes.
    const answers = await Promise.all(sample.map((m) => redis.hexists(keys.customer(m.customer_id), String(m.segment_id)).catch(() => null)));
    const mismatches = answers.filter((value) => value !== 1).length;
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
        `  ${name.padEnd(12)} size ${String(size).padStart(8)} (bare SQL ${bareCount})  recompute median ${fmt(recompute)} ms  bare SQL median ${fmt(sql)} ms  ratio ${fmt(row.ratio, 2)}x (target <= 1.5x)${failures ? `  ${failures} failed/timed out` : ''}`,
      );
    }
    results.dayOne = {
      ids,
      sizes,
      computedAfterMs: computedAfter,
      firstComputation: firstComputationRows,
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
      const loadStartedAt = Date.now();

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
        batchCosts: batchCosts(readBatchLines(workerLogs, loadStartedAt, Date.now())),
      };
      console.log(
        `    order -> served (ms): p50 ${fmt(result.p50)}  p95 ${fmt(result.p95)}  p99 ${fmt(result.p99)}  max ${fmt(result.max)}  over ${probes} probes, ${timeouts} timeouts (> 30 s), ${skipped} skipped${probeErrors ? `, ${probeErrors} probe insert errors` : ''}; drained ${drainedAfterMs === null ? 'NOT within the wait timeout' : `${result.drainSeconds} s after the load stopped`}`,
      );
      if (nextProbe >= probeCustomers.length) console.log('    (the probe customers ran out)');
      printCosts(`${label}, ${rate}/s`, result.batchCosts);
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
    if (options.reconcilerBaseline) {
      // The same load with the reconciler off in every worker: what its rounds (which hold the
      // serving-store lock while they compare) add to order -> served.
      const rate = options.rates.at(-1)!;
      console.log(`\n2b. order -> served at ${rate}/s with the serving-store reconciler off (SERVING_RECONCILE_BATCH=0)`);
      await waitFor('the pipeline to drain', drained, 200);
      await stopWorkers();
      workers = await startWorkers('load with 4 segments, reconciler off', firstWorkers, { SERVING_RECONCILE_BATCH: '0' });
      loadFour.push(await runRate(rate, '4 segments, reconciler off'));
      results.loadFourSegments = loadFour;
      save();
      await waitFor('the pipeline to drain', drained, 200);
      await stopWorkers();
      workers = await startWorkers('day-one, load with 4 segments', firstWorkers);
    }

    // ------------------------------------------------------------ 3. event throughput with N workers
    /**
     * The backlog of a run's `drain`th drain: the same customers, stores and totals in every run
     * (BACKLOG_SEED + drain), so that runs, and 3 and 5c, evaluate the same work. Each drain of a
     * run draws its own: a second drain of the same orders would find their customers already
     * moved by the first, and flip a fraction of the memberships.
     */
    const insertBacklog = async (idPrefix: string, drain: number) => {
      const random = prng(BACKLOG_SEED + drain);
      for (let from = 0; from < options.backlog; from += 1000) {
        const rows = Math.min(1000, options.backlog - from);
        const columns = { id: [] as string[], customer: [] as string[], store: [] as string[], total: [] as number[] };
        for (let i = 0; i < rows; i++) {
          columns.id.push(`${idPrefix}${from + i + 1}`);
          columns.customer.push(customerId(1 + Math.floor(random() * options.customers)));
          columns.store.push(storeAt(random()));
          columns.total.push(totalAt(random()));
        }
        await pool.query(
          `INSERT INTO orders (id, customer_id, store_id, total_cents, created_at)
           SELECT id, customer_id, store_id, total_cents, now() FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS o (id, customer_id, store_id, total_cents)`,
          [columns.id, columns.customer, columns.store, columns.total],
        );
      }
    };
    const backendPids = async () =>
      (await pool.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database()')).rows.map((r) => r.pid);
    const eventThroughput = async (label: string, idPrefix: string, drain: number, nextPhase: string, count: number): Promise<ThroughputResult> => {
      await waitFor('the pipeline to drain', drained, 200);
      let begun = performance.now();
      await stopWorkers();
      const workerStopSeconds = seconds(performance.now() - begun);
      console.log(`  workers stopped in ${workerStopSeconds} s`);
      begun = performance.now();
      await insertBacklog(idPrefix, drain);
      const insertSeconds = seconds(performance.now() - begun);
      const outboxRows = await outboxSize();
      console.log(`  ${options.backlog} orders inserted in ${insertSeconds} s; outbox holds ${outboxRows} rows`);
      // The outbox stays locked until every worker is ready, so that N workers start on it together
      // (plain reads, as the counts below, go on): the time is then theirs, not their start-up's.
      const gate = outboxTables.length > 0 ? await pool.connect() : null;
      let startedAt: number;
      let startedEpochMs: number;
      let workerStartSeconds: number;
      // CPU from the lock's release on: each worker's, the database backends', Redis'.
      const workerCpu: CpuMeter[] = [];
      const postgresCpu = new CpuMeter(backendPids);
      const redisCpu = new CpuMeter(async () => redisPids);
      try {
        if (gate) {
          await gate.query('BEGIN');
          await gate.query(`LOCK TABLE ${outboxTables.join(', ')} IN EXCLUSIVE MODE`);
        } else console.log('  (no outbox table to hold: the first worker ready starts alone)');
        begun = performance.now();
        workers = await startWorkers(nextPhase, count);
        workerStartSeconds = seconds(performance.now() - begun);
        for (const child of workers) workerCpu.push(new CpuMeter(async () => [child.process.pid]));
        await Promise.all([...workerCpu, postgresCpu, redisCpu].map((meter) => meter.sample()));
        startedAt = performance.now();
        startedEpochMs = Date.now();
        if (gate) await gate.query('COMMIT');
      } catch (error) {
        if (gate) await gate.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        gate?.release();
      }
      let outboxEmptyMs: number | null = null;
      const clearMs = await waitFor('the backlog to clear', async () => {
        // Backends come and go: sampled all along, so that each counts what it used.
        await postgresCpu.sample();
        const b = await backlog();
        if (b.outbox === 0 && outboxEmptyMs === null) outboxEmptyMs = performance.now() - startedAt;
        return b.outbox + b.orderEventsJobs + b.unpublishedEvents === 0 || `outbox ${b.outbox}, order-events jobs ${b.orderEventsJobs}, unpublished events ${b.unpublishedEvents}`;
      }, 100);
      const clearedMs = clearMs === null ? null : performance.now() - startedAt;
      await Promise.all([...workerCpu, postgresCpu, redisCpu].map((meter) => meter.sample()));
      const perSecond = (ms: number | null) => (ms === null ? null : round(options.backlog / (ms / 1000)));
      const perOrderUs = (ms: number) => round((ms * 1000) / options.backlog);
      const workersUs = workerCpu.map((meter) => perOrderUs(meter.usedMs));
      const result: ThroughputResult = {
        segments: label,
        workers: count,
        orders: options.backlog,
        workerStopSeconds,
        insertSeconds,
        outboxRows,
        workerStartSeconds,
        gated: gate !== null,
        outboxEmptySeconds: outboxEmptyMs === null ? null : seconds(outboxEmptyMs),
        clearedSeconds: clearedMs === null ? null : seconds(clearedMs),
        ordersPerSecond: perSecond(outboxEmptyMs),
        ordersPerSecondPublished: perSecond(clearedMs),
        shares: workers.map((child) => {
          const lines = readBatchLines([child.log], startedEpochMs, Date.now());
          return { worker: workerNumbers.get(child)!.n, batches: lines.length, changes: lines.reduce((sum, l) => sum + l.changes, 0) };
        }),
        cpuPerOrderUs:
          clearedMs === null
            ? null
            : { workers: workersUs, workersTotal: round(workersUs.reduce((a, b) => a + b, 0)), postgres: perOrderUs(postgresCpu.usedMs), redis: perOrderUs(redisCpu.usedMs) },
        batchCosts: batchCosts(readBatchLines(workerLogs, startedEpochMs, Date.now())),
      };
      console.log(
        `  ${plural(count, 'worker')} ready in ${workerStartSeconds} s; from then, outbox empty after ${fmt(result.outboxEmptySeconds, 2)} s: ${fmt(result.ordersPerSecond)} orders/s with ${plural(count, 'worker')}; all evaluated and published after ${result.clearedSeconds === null ? 'n/a (timed out)' : `${result.clearedSeconds} s (${fmt(result.ordersPerSecondPublished)} orders/s)`}`,
      );
      console.log(`  shares: ${result.shares.map((w) => `worker ${w.worker} ${w.changes} changes in ${w.batches} batches`).join(', ')}`);
      const cpu = result.cpuPerOrderUs;
      if (cpu) console.log(`  CPU per order: workers ${cpu.workers.map((us) => `${fmt(us)} µs`).join(' + ')} = ${fmt(cpu.workersTotal)} µs, Postgres backends ${fmt(cpu.postgres)} µs, Redis ${fmt(cpu.redis)} µs`);
      printCosts(`backlog, ${label}, ${plural(count, 'worker')}`, result.batchCosts);
      return result;
    };
    /** One drain for each count of --workers; then the first count runs again, for the phases after. */
    const eventThroughputs = async (label: string, idPrefix: string, nextPhase: string): Promise<ThroughputResult[]> => {
      const drains: ThroughputResult[] = [];
      for (const [i, count] of options.workerCounts.entries()) {
        console.log(`  -- ${plural(count, 'worker')}`);
        drains.push(await eventThroughput(label, `${idPrefix}${i + 1}-`, i, nextPhase, count));
      }
      if (drains.at(-1)!.workers !== firstWorkers) {
        await waitFor('the pipeline to drain', drained, 200);
        await stopWorkers();
        workers = await startWorkers(nextPhase, firstWorkers);
      }
      return drains;
    };

    console.log(`\n3. event throughput with ${options.workerCounts.join(', ')} workers: ${options.backlog} orders written while the workers are stopped`);
    const throughputFour = await eventThroughputs('4 segments', 'bench-b-', 'backlog, segments, load with many');
    results.backlog = throughputFour;
    save();

    // ------------------------------------------------------------ 4. segments created together
    const generate = segmentMix(options.mix, SEGMENT_SEED);
    const specs = Array.from({ length: options.segments }, (_, i) => generate(i + 1));
    console.log(`\n4. ${options.together} segments of the ${options.mix} mix created together`);
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
    console.log(`\n5. ${options.segments} segments of the ${options.mix} mix besides the day-one ones`);
    started = performance.now();
    const moreIds = await createSegments(specs.slice(options.together));
    const moreRequestMs = performance.now() - started;
    console.log(`  ${moreIds.length} created in ${seconds(moreRequestMs)} s (${fmt(moreIds.length / (moreRequestMs / 1000))}/s, ${CREATE_BATCH} per request, ${CREATE_PARALLEL} requests at a time)`);
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
    // Time passing for every segment at once: watermarks moved back, then the worker's own
    // time-maintenance job queues the customers whose orders crossed a window edge, and the
    // evaluator takes them. Its CPU is the workers' and the database backends' (the job, the
    // evaluation, the publication), sampled from /proc while it runs.
    console.log(`\n5b. time maintenance with ${manyLabel}`);
    const computations = new SegmentComputationRepository(pool);
    const timeDependent = (await computations.liveRuleSegments()).filter((s) => timeWindows(s.rule).length > 0).map((s) => s.id);
    const cpuMeters = () => {
      const worker = new CpuMeter(async () => workers.map((w) => w.process.pid));
      const postgres = new CpuMeter(backendPids);
      return { worker, postgres, sample: () => Promise.all([worker.sample(), postgres.sample()]) };
    };
    // What the workers and backends use doing nothing (polling, schedulers), to tell the maintenance's own share.
    const idle = cpuMeters();
    await waitFor('the pipeline to drain', drained, 200);
    await idle.sample();
    const idleBegun = performance.now();
    await sleep(5_000);
    await idle.sample();
    const idleCpuPerMs = (idle.worker.usedMs + idle.postgres.usedMs) / (performance.now() - idleBegun);
    const timeMaintenanceRun = async (stepMs: number): Promise<TimeMaintenanceRun | 'unsupported'> => {
      await waitFor('the pipeline to drain', drained, 200);
      const cpu = cpuMeters();
      await cpu.sample();
      const fromEpochMs = Date.now();
      const begun = performance.now();
      try {
        await pool.query(
          `UPDATE segments SET time_evaluated_at = clock_timestamp() - make_interval(secs => $2::double precision / 1000)
            WHERE id = ANY($1::int[]) AND time_evaluated_at IS NOT NULL`,
          [timeDependent, stepMs],
        );
      } catch (error) {
        // The watermark column of the design this benchmark was written against (migration 0005).
        if ((error as { code?: string }).code === '42703') return 'unsupported';
        throw error;
      }
      const job = await maintenanceQueue.add(TIME_MAINTENANCE_JOB, {}, { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } });
      await waitFor('the time-maintenance job', async () => {
        await cpu.sample();
        const state = await job.getState();
        if (state === 'failed') throw new Error(`the time-maintenance job failed: ${(await Job.fromId(maintenanceQueue, job.id!))?.failedReason ?? 'unknown'}`);
        return state === 'completed' || state;
      }, 50);
      await waitFor('crossing customers to be evaluated and published', async () => {
        await cpu.sample();
        return drained();
      }, 50);
      await cpu.sample();
      const wallMs = performance.now() - begun;
      // The worker's own account (its scheduled run may have taken some of the crossings first).
      const logged = readLogLines(workerLogs, 'time maintenance', fromEpochMs, Date.now());
      const sum = (field: string) => (logged.length === 0 ? null : logged.reduce((total, line) => total + (typeof line[field] === 'number' ? line[field] : 0), 0));
      return { stepMs, segments: sum('segments'), customers: sum('customers'), wallMs: round(wallMs), workerCpuMs: round(cpu.worker.usedMs), postgresCpuMs: round(cpu.postgres.usedMs) };
    };
    const cpuOf = (r: TimeMaintenanceRun) => r.workerCpuMs + r.postgresCpuMs;
    const netCpuOf = (r: TimeMaintenanceRun) => Math.max(0, cpuOf(r) - idleCpuPerMs * r.wallMs);
    const hourRun = await timeMaintenanceRun(HOUR_MS);
    if (hourRun === 'unsupported') {
      console.log('  skipped: segments.time_evaluated_at is gone; move the watermarks of the current design back instead');
      results.timeMaintenance = { skipped: 'segments.time_evaluated_at is gone' };
    } else {
      const periodRuns: TimeMaintenanceRun[] = [];
      for (let i = 0; i < TIME_MAINTENANCE_PERIOD_RUNS; i++) {
        const r = await timeMaintenanceRun(TIME_MAINTENANCE_EVERY_MS);
        if (r !== 'unsupported') periodRuns.push(r);
      }
      const runsPerHour = HOUR_MS / TIME_MAINTENANCE_EVERY_MS;
      const percent = (cpuMsPerHour: number) => round((cpuMsPerHour / HOUR_MS) * 100, 3);
      const periodCpu = median(periodRuns.map(cpuOf)) ?? 0;
      const periodNetCpu = median(periodRuns.map(netCpuOf)) ?? 0;
      const timeMaintenance = {
        segmentsWithWindows: timeDependent.length,
        idleCpuPercentOfOneCore: round(idleCpuPerMs * 100, 2),
        hourRun,
        periodRuns,
        // One run covering an hour, and the real schedule: a run every period, 60 an hour.
        shareOfOneCorePercent: {
          oneRunOfAnHour: percent(cpuOf(hourRun)),
          oneRunOfAnHourNetOfIdle: percent(netCpuOf(hourRun)),
          runsEveryPeriod: percent(periodCpu * runsPerHour),
          runsEveryPeriodNetOfIdle: percent(periodNetCpu * runsPerHour),
          wallTimeOfOneRunOfAnHour: percent(hourRun.wallMs),
        },
      };
      results.timeMaintenance = timeMaintenance;
      const describe = (r: TimeMaintenanceRun) =>
        `${fmt(r.segments)} segments, ${fmt(r.customers)} customers queued; evaluated and published after ${seconds(r.wallMs)} s; CPU: workers ${fmt(r.workerCpuMs)} ms, Postgres ${fmt(r.postgresCpuMs)} ms`;
      console.log(`  ${timeDependent.length} time-dependent segments; idle workers and backends use ${timeMaintenance.idleCpuPercentOfOneCore}% of one core`);
      console.log(`  one run of an hour: ${describe(hourRun)}`);
      periodRuns.forEach((r, i) => console.log(`  run of ${seconds(TIME_MAINTENANCE_EVERY_MS)} s #${i + 1}: ${describe(r)}`));
      const share = timeMaintenance.shareOfOneCorePercent;
      console.log(
        `  share of one core averaged over an hour: ${share.runsEveryPeriod}% (${share.runsEveryPeriodNetOfIdle}% net of idle) as scheduled, ${runsPerHour} runs of ${seconds(TIME_MAINTENANCE_EVERY_MS)} s; ${share.oneRunOfAnHour}% (${share.oneRunOfAnHourNetOfIdle}% net) as one run of an hour (target < 10%)`,
      );
    }
    save();

    // ------------------------------------------------------------ 5c. event throughput with many segments
    console.log(`\n5c. event throughput with ${options.workerCounts.join(', ')} workers and ${manyLabel}: the backlog of 3 again`);
    const throughputMany = await eventThroughputs(manyLabel, 'bench-c-', 'backlog with many segments');
    results.backlogMany = throughputMany;
    save();

    // ------------------------------------------------------------ 6. peak RSS
    await stopWorkers();
    const subgraphPeakRssMb = peakRssMb(subgraph.process.pid);
    results.peakRssMb = { workers: workerPeakRss, subgraph: subgraphPeakRssMb };
    console.log('\n6. peak RSS (VmHWM)');
    for (const w of workerPeakRss) console.log(`  worker ${w.worker} (${w.phase}): ${fmt(w.peakRssMb)} MB`);
    console.log(`  subgraph: ${fmt(subgraphPeakRssMb)} MB`);
    await stopAllChildren();
    save();

    // ------------------------------------------------------------ 7. storage per membership
    console.log('\n7. storage per membership');
    const storage = await membershipStorage(pool, redis, keys);
    results.storage = storage;
    printStorage(storage);
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
    const togetherResult = results.together as Record<string, number | null>;
    const throughput = (rows: ThroughputResult[]) =>
      markdownTable(
        ['segments', 'workers', 'orders', 'outbox rows', 'workers ready after s', 'outbox empty after s', 'orders/s', 'all published after s', 'orders/s published', 'changes per worker', 'CPU µs an order: each worker', 'workers', 'Postgres', 'Redis'],
        rows.map((r) => [
          r.segments,
          r.workers,
          r.orders,
          r.outboxRows,
          fmt(r.workerStartSeconds, 1),
          `${fmt(r.outboxEmptySeconds, 2)}${r.gated ? '' : ' (not gated)'}`,
          fmt(r.ordersPerSecond),
          fmt(r.clearedSeconds, 2),
          fmt(r.ordersPerSecondPublished),
          r.shares.map((w) => w.changes).join(' / '),
          r.cpuPerOrderUs ? r.cpuPerOrderUs.workers.map((us) => fmt(us)).join(' / ') : 'n/a',
          fmt(r.cpuPerOrderUs?.workersTotal),
          fmt(r.cpuPerOrderUs?.postgres),
          fmt(r.cpuPerOrderUs?.redis),
        ]),
      );
    const costRows = [
      ...[...loadFour, ...loadMany].map((r) => batchCostRow(`${r.segments}, ${r.targetRate}/s`, r.batchCosts)),
      ...[...throughputFour, ...throughputMany].map((r) => batchCostRow(`backlog, ${r.segments}, ${plural(r.workers, 'worker')}`, r.batchCosts)),
    ];
    const timeMaintenanceSummary = (() => {
      const t = results.timeMaintenance as { skipped?: string; segmentsWithWindows?: number; idleCpuPercentOfOneCore?: number; hourRun?: TimeMaintenanceRun; periodRuns?: TimeMaintenanceRun[]; shareOfOneCorePercent?: Record<string, number> };
      if (t.skipped || !t.hourRun || !t.periodRuns || !t.shareOfOneCorePercent) return `Skipped: ${t.skipped ?? 'no result'}.`;
      const share = t.shareOfOneCorePercent;
      return [
        `${t.segmentsWithWindows} time-dependent segments; idle workers and backends: ${t.idleCpuPercentOfOneCore}% of one core.`,
        '',
        markdownTable(
          ['run', 'segments', 'customers queued', 'evaluated and published after s', 'worker CPU ms', 'Postgres CPU ms'],
          [t.hourRun, ...t.periodRuns].map((r, i) => [
            i === 0 ? 'one of an hour' : `one of ${seconds(r.stepMs)} s (#${i})`,
            fmt(r.segments),
            fmt(r.customers),
            fmt(seconds(r.wallMs), 2),
            fmt(r.workerCpuMs),
            fmt(r.postgresCpuMs),
          ]),
        ),
        '',
        `Share of one core averaged over an hour (target < 10%): ${share.runsEveryPeriod}% as scheduled (${HOUR_MS / TIME_MAINTENANCE_EVERY_MS} runs an hour, median run; ${share.runsEveryPeriodNetOfIdle}% net of idle), ${share.oneRunOfAnHour}% as one run of an hour (${share.oneRunOfAnHourNetOfIdle}% net of idle).`,
      ].join('\n');
    })();
    const markdown = [
      `# Membership pipeline benchmark, ${startedAt.toISOString()}`,
      '',
      `${options.customers} customers, ${options.orders} seeded orders, ${firstWorkers} worker process${firstWorkers === 1 ? '' : 'es'} (drains with ${options.workerCounts.join(', ')}), ${options.mix} mix, Postgres ${pgVersion}, Redis ${String(results.redis)}, Node ${process.version}${options.quick ? ' (--quick)' : ''}.`,
      '',
      '## 1. Day-one segments',
      '',
      `create -> served: ${createToServedMs === null ? 'timed out' : `${seconds(dayOneResult.createToServedMs!)} s`}. Redis check: ${mismatches} of ${sample.length} sampled members missing.`,
      '',
      'First computation (create -> computed) against `CREATE TABLE AS` its members query (target <= 3x):',
      '',
      markdownTable(
        ['segment', 'rows', 'create -> computed ms', "first job's compute + apply ms", 'CREATE TABLE AS median ms', 'ratio'],
        firstComputationRows.map((r) => [r.segment, r.rows, fmt(r.createToComputedMs), fmt(r.firstJobWorkMs), fmt(r.medianCreateTableAsMs), `${fmt(r.ratio, 2)}x`]),
      ),
      '',
      'Recompute against the bare SQL of the rule (target <= 1.5x):',
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
      '## Cost per batch (worker debug log "changes evaluated"; n/a: not logged)',
      '',
      markdownTable(BATCH_COST_HEADER, costRows),
      '',
      `## 3 and 5c. Event throughput with ${options.workerCounts.join(', ')} workers (a backlog written while the workers are stopped; timed from when all are ready; CPU until all was published)`,
      '',
      throughput([...throughputFour, ...throughputMany]),
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
      `## 5b. Time maintenance with ${manyLabel}`,
      '',
      timeMaintenanceSummary,
      '',
      '## 6. Peak RSS (VmHWM)',
      '',
      markdownTable(['process', 'MB'], [...workerPeakRss.map((w) => [`worker ${w.worker} (${w.phase})`, fmt(w.peakRssMb)]), ['subgraph', fmt(subgraphPeakRssMb)]]),
      '',
      '## 7. Storage per membership',
      '',
      ...storageLines(storage).map((line) => `- ${line}`),
      '',
    ].join('\n');
    writeFileSync(mdFile, markdown);
    console.log(`\n${markdown}`);
    console.log(`results: ${jsonFile}\n         ${mdFile}`);
  } finally {
    if (!interrupted) await stopAllChildren();
    await Promise.allSettled([recomputeQueue.close(), orderEventsQueue.close(), maintenanceQueue.close()]);
    await closeRedis(redis);
    await closeBullConnection(connection);
    await cluster?.stop();
    await Promise.allSettled([pool.end(), loadPool.end(), probePool.end()]);
  }
}

// ---------------------------------------------------------------- storage

function storageLines(s: MembershipStorage): string[] {
  const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
  const n = (value: number | null) => (value === null ? 'n/a' : value.toLocaleString('en-US'));
  const p = s.projection;
  const eventsPerMembership = s.memberships.rows === 0 ? null : s.events.rows / s.memberships.rows;
  const listpack = s.redis.listpackMaxEntries;
  const fits =
    p.membershipsPerCustomer === null || listpack === null
      ? ''
      : p.membershipsPerCustomer > listpack
        ? `; at ${p.membershipsPerCustomer} fields a customer's hash is over hash-max-listpack-entries (${listpack}) and would be a hash table, several times the bytes per field`
        : `; at ${p.membershipsPerCustomer} fields a customer's hash stays a listpack (hash-max-listpack-entries ${listpack})`;
  return [
    `${n(s.memberships.rows)} memberships of ${n(s.customers)} customers in ${n(s.segments)} segments: ${fmt(s.membershipsPerCustomerPerSegment === null ? null : s.membershipsPerCustomerPerSegment * 100, 3)}% of the customers per segment on average`,
    `Postgres segment_memberships: ${mb(s.memberships.bytes)} for ${n(s.memberships.rows)} rows, ${fmt(s.memberships.bytesPerRow)} B per membership`,
    `Postgres segment_membership_events: ${mb(s.events.bytes)} for ${n(s.events.rows)} rows, ${fmt(s.events.bytesPerRow)} B per event (${fmt(eventsPerMembership, 2)} events per membership)`,
    `Redis: ${n(s.redis.keysSampled)} customer keys sampled holding ${n(s.redis.membershipsSampled)} memberships, MEMORY USAGE ${fmt(s.redis.bytesPerMembership)} B per membership`,
    `projected to ${n(p.segments)} segments over ${n(p.customers)} customers at that average: ${n(p.memberships)} memberships (${n(p.membershipsPerCustomer)} per customer); Postgres ${gigabytes(p.postgresMembershipsBytes)} of memberships and ${gigabytes(p.postgresEventsBytes)} of events, Redis ${gigabytes(p.redisBytes)} at the measured bytes per membership${fits}`,
  ];
}

function printStorage(s: MembershipStorage): void {
  for (const line of storageLines(s)) console.log(`  ${line}`);
}

main().then(
  () => process.exit(0),
  async (error: unknown) => {
    console.error(error);
    await stopAllChildren();
    process.exit(1);
  },
);
