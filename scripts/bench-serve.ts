/**
 * npm run bench:serve [-- --customers 100000 --duration 10 --warmup 3 --cluster]
 *
 * Serving throughput and latency of the subgraph against a floor measured in
 * the same run: a subgraph of the same SDL whose resolvers return constants
 * (scripts/bench-serve-floor.ts), each in its own process with
 * NODE_ENV=production, loaded by autocannon with the same operation
 * (`_entities` asking `segments { id name }` and `isInSegment` of customers
 * who are in 10 segments). Prints, for each shape, requests/s, p50 and p99 of
 * both and the ratio, and the Redis round trips of one request. Uses its own
 * database (`segments_bench_serve`) and Redis prefix (`bench-serve:`).
 * Prints the subgraph process' CPU per request too. With `--cluster` the
 * subgraph reads a three-master Redis Cluster the run starts on ports of its
 * own (REDIS_CLUSTER_NODES), and the round trips are counted per master, by
 * relays in front of a second such cluster holding the same keys (the timed
 * runs reach their cluster directly).
 * Results go to bench/results/serve-<time>.json and .md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { createLogger } from '../src/platform/logger.js';
import { closeRedis, createRedis, type ClusterNode, type RedisClient } from '../src/stores/redis/client.js';
import { createPool, ensureDatabase } from '../src/stores/postgres/pool.js';
import { migrate } from '../src/stores/postgres/migrator.js';
import { MembershipRepository } from '../src/stores/postgres/membership-repository.js';
import { rebuildServingStore } from '../src/pipeline/rebuild-serving-store.js';
import { MembershipServingStore } from '../src/stores/redis/serving-store.js';
import { redisKeys } from '../src/stores/redis/keys.js';
import { startRedisCluster, type LocalRedisCluster } from '../test/helpers/redis-cluster.js';
import { startTcpRelay } from '../test/helpers/tcp-relay.js';
import { cpuMs } from './bench-processes.js';
import { freePort } from './free-port.js';

const { values } = parseArgs({
  options: {
    customers: { type: 'string', default: '100000' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    cluster: { type: 'boolean', default: false },
  },
});
const onCluster = values.cluster;
const customers = Number(values.customers);
const duration = Number(values.duration);
const warmup = Number(values.warmup);
const SEGMENTS = 10;
// Requests come as the router's would: with the subgraph's shared secret (the floor ignores it).
const ROUTER_SECRET = randomBytes(32).toString('hex');
const SUBGRAPH_HEAP_FLAG = '--max-semi-space-size=32';

/** The shapes of the issue: representations per request and concurrent connections. */
const SHAPES = [
  { representations: 100, connections: 32 },
  { representations: 1, connections: 32 },
  { representations: 100, connections: 1 },
  { representations: 1000, connections: 8 },
];

// Run from dist/scripts (the npm script builds first): the servers are the built ones.
const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const dist = (file: string) => {
  const path = resolve(here, file);
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run bench:serve\`, which builds first`);
  return path;
};

const OPERATION = `query ($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { id segments { id name } isInSegment(id: "3") } } }`;

/** A few dozen request bodies per shape, cycled, so that Redis reads differ between requests. */
function bodies(representations: number): string[] {
  return Array.from({ length: 64 }, () =>
    JSON.stringify({
      query: OPERATION,
      variables: { r: Array.from({ length: representations }, () => ({ __typename: 'Customer', id: `cust-${1 + Math.floor(Math.random() * customers)}` })) },
    }),
  );
}

async function startProcess(args: string[], env: NodeJS.ProcessEnv, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env, NODE_ENV: 'production', PORT: String(port), ROUTER_SHARED_SECRET: ROUTER_SECRET }, stdio: ['ignore', 'ignore', 'inherit'] });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${args.join(' ')} exited with ${child.exitCode}`);
    const ok = await fetch(`http://127.0.0.1:${port}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'router-authorization': ROUTER_SECRET },
      body: JSON.stringify({ query: '{ __typename }' }),
    }).then((r) => r.ok, () => false);
    if (ok) return child;
    if (Date.now() > deadline) throw new Error(`${args.join(' ')} did not answer within 60 s`);
    await new Promise((done) => setTimeout(done, 200));
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((done) => setTimeout(done, 10_000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

interface Load {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  /** CPU of the server process per request, in ms. */
  cpuMsPerRequest?: number;
}

async function load(url: string, shape: (typeof SHAPES)[number], seconds: number, pid?: number): Promise<Load> {
  const pool = bodies(shape.representations);
  let next = 0;
  const cpuBefore = cpuMs(pid);
  const result = await autocannon({
    url,
    connections: shape.connections,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'router-authorization': ROUTER_SECRET },
        setupRequest: (request) => ({ ...request, body: pool[next++ % pool.length]! }),
      },
    ],
  });
  const cpuAfter = cpuMs(pid);
  return {
    requestsPerSecond: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx,
    ...(cpuBefore !== null && cpuAfter !== null && result.requests.total > 0
      ? { cpuMsPerRequest: Number(((cpuAfter - cpuBefore) / result.requests.total).toFixed(3)) }
      : {}),
  };
}

async function main() {
  const databaseUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/segments_bench_serve';
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = process.env.BENCH_REDIS_PREFIX ?? 'bench-serve:';

  console.log(`preparing ${customers} customers, each in ${SEGMENTS} segments...`);
  await ensureDatabase(databaseUrl);
  const pool = createPool(databaseUrl, { applicationName: 'bench-serve' });
  // The timed runs' cluster is reached directly; the counting one through relays (see the header).
  const clusters: LocalRedisCluster[] = [];
  const cluster = onCluster ? (clusters[clusters.push(await startRedisCluster(3, { relays: false })) - 1]!) : null;
  const target = cluster ? { clusterNodes: cluster.nodes } : { url: redisUrl };
  const redis: RedisClient = createRedis(target, { connectionName: 'bench-serve', logger: createLogger('warn') });
  const redisEnv = (nodes: readonly ClusterNode[] | null, url = redisUrl) =>
    nodes ? { REDIS_CLUSTER_NODES: nodes.map((n) => `${n.host}:${n.port}`).join(',') } : { REDIS_URL: url };
  try {
    await migrate(pool, join(root, 'migrations'));
    await pool.query('TRUNCATE segments, segment_memberships, segment_membership_events, membership_event_outbox, segment_size_deltas, segment_evaluations RESTART IDENTITY CASCADE');
    await pool.query(`INSERT INTO segments (name, kind, size) SELECT 'bench ' || i, 'STATIC', $1::int FROM generate_series(1, $2::int) AS i`, [customers, SEGMENTS]);
    await pool.query(
      `INSERT INTO segment_memberships (segment_id, customer_id, since)
       SELECT s, 'cust-' || c, now() - (c % 300) * interval '1 day' FROM generate_series(1, $1::int) AS c, generate_series(1, $2::int) AS s`,
      [customers, SEGMENTS],
    );
    await pool.query('VACUUM (ANALYZE) segment_memberships');
    const keys = redisKeys(prefix, cluster ? 'cluster' : 'single');
    await rebuildServingStore(pool, new MembershipRepository(pool), new MembershipServingStore(redis, keys));

    const env = { DATABASE_URL: databaseUrl, ...redisEnv(cluster?.nodes ?? null), REDIS_PREFIX: prefix, LOG_LEVEL: 'warn' };
    const rows: Array<Record<string, unknown>> = [];
    console.log(`\n${duration} s per run after ${warmup} s of warm-up; the floor and the subgraph run one at a time`);
    console.log(`Redis: ${cluster ? 'a three-master Redis Cluster' : redisUrl}`);
    console.log('reps  conns | floor req/s   p50   p99 | subgraph req/s   p50   p99 | ratio | subgraph CPU ms/request');
    for (const shape of SHAPES) {
      const measured: Record<string, Load> = {};
      for (const [name, args] of [
        ['floor', [dist('bench-serve-floor.js')]],
        // As `npm run start:subgraph` and the compose file run it (docs/benchmarks.md "Serving speed").
        ['subgraph', [SUBGRAPH_HEAP_FLAG, dist('../src/index.js'), 'subgraph']],
      ] as const) {
        const port = await freePort();
        const child = await startProcess([...args], env, port);
        try {
          await load(`http://127.0.0.1:${port}/`, shape, warmup);
          measured[name] = await load(`http://127.0.0.1:${port}/`, shape, duration, child.pid);
        } finally {
          await stop(child);
        }
      }
      const floor = measured.floor!;
      const subgraph = measured.subgraph!;
      const ratio = Number((subgraph.requestsPerSecond / floor.requestsPerSecond).toFixed(2));
      rows.push({ ...shape, floor, subgraph, ratio });
      console.log(
        `${String(shape.representations).padStart(4)} ${String(shape.connections).padStart(6)} | ${String(floor.requestsPerSecond).padStart(11)} ${String(floor.p50).padStart(5)} ${String(floor.p99).padStart(5)} | ${String(subgraph.requestsPerSecond).padStart(14)} ${String(subgraph.p50).padStart(5)} ${String(subgraph.p99).padStart(5)} | ${ratio.toFixed(2)}x | ${String(subgraph.cpuMsPerRequest ?? '-')}${floor.errors + subgraph.errors ? `  (${floor.errors + subgraph.errors} errors)` : ''}`,
      );
    }

    // Redis round trips of one request, counted by relays in front of Redis (not in the timed runs).
    const counted = cluster ? await countingCluster(clusters, pool, keys) : null;
    const relays = counted ? counted.relays : [await startTcpRelay({ host: new URL(redisUrl).hostname, port: Number(new URL(redisUrl).port || 6379) })];
    const port = await freePort();
    const child = await startProcess(
      [SUBGRAPH_HEAP_FLAG, dist('../src/index.js'), 'subgraph'],
      { ...env, ...redisEnv(counted?.nodes ?? null, `redis://127.0.0.1:${relays[0]!.port}`) },
      port,
    );
    const roundTrips: Record<number, number> = {};
    const perNode: Record<number, number[]> = {};
    try {
      for (const representations of [1, 100, 1000]) {
        const body = bodies(representations)[0]!;
        await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: { 'content-type': 'application/json', 'router-authorization': ROUTER_SECRET }, body }); // warms the segment cache
        for (const relay of relays) relay.reset();
        const requests = 20;
        for (let i = 0; i < requests; i++) {
          await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: { 'content-type': 'application/json', 'router-authorization': ROUTER_SECRET }, body });
        }
        perNode[representations] = relays.map((relay) => relay.roundTrips / requests);
        roundTrips[representations] = perNode[representations].reduce((sum, trips) => sum + trips, 0);
      }
    } finally {
      await stop(child);
      if (!counted) await relays[0]!.close();
    }
    console.log(`\nRedis round trips per request: ${Object.entries(roundTrips).map(([n, trips]) => `${n} representations: ${trips}`).join(', ')}`);
    if (cluster) console.log(`per master: ${Object.entries(perNode).map(([n, trips]) => `${n} representations: ${trips.join(' / ')}`).join(', ')}`);

    const stamp = new Date().toISOString().replaceAll(':', '-');
    const dir = join(root, 'bench/results');
    mkdirSync(dir, { recursive: true });
    const results = {
      startedAt: new Date().toISOString(),
      node: process.version,
      redis: cluster ? 'cluster of 3 masters' : 'single',
      customers,
      segmentsPerCustomer: SEGMENTS,
      duration,
      warmup,
      operation: OPERATION,
      shapes: rows,
      redisRoundTripsPerRequest: roundTrips,
      ...(cluster ? { redisRoundTripsPerRequestPerMaster: perNode } : {}),
    };
    const name = `serve-${cluster ? 'cluster-' : ''}${stamp}`;
    writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(results, null, 2)}\n`);
    const table = [
      '| representations | connections | floor req/s | floor p50 / p99 ms | subgraph req/s | subgraph p50 / p99 ms | ratio | subgraph CPU ms/request |',
      '|---|---|---|---|---|---|---|---|',
      ...rows.map((r) => {
        const f = r.floor as Load;
        const s = r.subgraph as Load;
        return `| ${String(r.representations)} | ${String(r.connections)} | ${f.requestsPerSecond} | ${f.p50} / ${f.p99} | ${s.requestsPerSecond} | ${s.p50} / ${s.p99} | ${String(r.ratio)}x | ${String(s.cpuMsPerRequest ?? '-')} |`;
      }),
    ].join('\n');
    writeFileSync(join(dir, `${name}.md`), `${table}\n`);
    console.log(`\nresults in bench/results/${name}.json and .md`);
  } finally {
    await closeRedis(redis);
    await pool.end();
    for (const started of clusters) await started.stop();
  }
}

/** A second three-master cluster, behind relays, holding the same serving keys: for counting round trips per master. */
async function countingCluster(clusters: LocalRedisCluster[], pool: ReturnType<typeof createPool>, keys: ReturnType<typeof redisKeys>): Promise<LocalRedisCluster> {
  const counted = await startRedisCluster(3);
  clusters.push(counted);
  const redis = createRedis({ clusterNodes: counted.nodes }, { connectionName: 'bench-serve-counted', logger: createLogger('warn') });
  try {
    await rebuildServingStore(pool, new MembershipRepository(pool), new MembershipServingStore(redis, keys));
  } finally {
    await closeRedis(redis);
  }
  return counted;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
