/**
 * npm run bench:read [-- --customers 100000 --segments 50 --iterations 200]
 *
 * Measures the read path against real Postgres and Redis: `_entities`
 * requests for 1, 100 and 500 customers through the HTTP subgraph, and, at the
 * store level, the batched read (one pipeline per batch) against a baseline
 * measured in the same run (one HGETALL round trip per customer). Uses its own
 * database (`segments_bench`) and Redis prefix (`bench:`) unless
 * BENCH_DATABASE_URL / BENCH_REDIS_PREFIX say otherwise, and rewrites them.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { apiStores, createApiDependencies } from '../src/graphql/api-dependencies.js';
import { loadConfig } from '../src/platform/config.js';
import { createLogger } from '../src/platform/logger.js';
import { createServer } from '../src/http/server.js';
import { workerStores } from '../src/pipeline/worker-stores.js';
import { prepareDatabase } from '../src/platform/prepare-database.js';
import { openStoreClients } from '../src/platform/store-clients.js';
import { openServing } from '../src/serving/open-serving.js';
import { rebuildServingStore } from '../src/pipeline/rebuild-serving-store.js';

const { values } = parseArgs({
  options: {
    customers: { type: 'string', default: '100000' },
    segments: { type: 'string', default: '50' },
    iterations: { type: 'string', default: '200' },
  },
});
const customers = Number(values.customers);
const segmentCount = Number(values.segments);
const iterations = Number(values.iterations);

function summary(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { p50: at(0.5), p99: at(0.99), mean: samples.reduce((a, b) => a + b, 0) / samples.length };
}
const ms = (n: number) => n.toFixed(2).padStart(8);

async function time(run: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < 10; i++) await run(); // warm-up
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const start = performance.now();
    await run();
    samples.push(performance.now() - start);
  }
  return samples;
}

async function main() {
  const config = loadConfig();
  const databaseUrl = process.env.BENCH_DATABASE_URL ?? config.databaseUrl.replace(/\/[^/]*$/, '/segments_bench');
  const redisPrefix = process.env.BENCH_REDIS_PREFIX ?? 'bench:';
  const logger = createLogger('warn');
  await prepareDatabase(databaseUrl);
  const clients = openStoreClients({ ...config, databaseUrl, redisPrefix }, logger);
  const stores = { ...workerStores(clients), redis: clients.redis, checkReadiness: () => clients.checkReadiness(), close: () => clients.close() };
  try {
    console.log(`preparing ${customers} customers in ${segmentCount} segments (about 5 each)...`);
    await stores.pool.query('TRUNCATE segments, segment_memberships, segment_membership_events, membership_event_outbox, segment_size_deltas, segment_evaluations RESTART IDENTITY CASCADE');
    await stores.pool.query(
      `INSERT INTO segments (name, kind) SELECT 'bench ' || i, 'STATIC' FROM generate_series(1, $1::int) AS i`,
      [segmentCount],
    );
    await stores.pool.query(
      `INSERT INTO segment_memberships (segment_id, customer_id, since)
       SELECT 1 + floor(random() * $2::int)::int, 'cust-' || c, now() - random() * interval '300 days'
         FROM generate_series(1, $1::int) AS c, generate_series(1, 5)
       ON CONFLICT DO NOTHING`,
      [customers, segmentCount],
    );
    await rebuildServingStore(stores.pool, stores.memberships, stores.servingStore);

    const api = createApiDependencies(apiStores(clients, await openServing(clients, logger)), config.auth);
    const server = createServer({ introspection: false, landingPage: false }, { ...api, logger, checkReadiness: () => stores.checkReadiness() });
    const port = await server.listen(0, '127.0.0.1');
    const query = `query ($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { id segments { id name } isInSegment(id: "1") segmentMemberships { since } } } }`;
    const randomIds = (n: number) => Array.from({ length: n }, () => `cust-${1 + Math.floor(Math.random() * customers)}`);

    console.log(`\n_entities over HTTP, all three fields (${iterations} requests each, ms)`);
    console.log('customers      p50      p99     mean');
    for (const n of [1, 100, 500]) {
      const samples = await time(async () => {
        const response = await fetch(`http://127.0.0.1:${port}/`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query, variables: { r: randomIds(n).map((id) => ({ __typename: 'Customer', id })) } }),
        });
        const body = (await response.json()) as { errors?: unknown };
        if (body.errors) throw new Error(JSON.stringify(body.errors));
      });
      const s = summary(samples);
      console.log(`${String(n).padStart(9)} ${ms(s.p50)} ${ms(s.p99)} ${ms(s.mean)}`);
    }

    console.log(`\nRedis reads at the store level (${iterations} batches each, ms): batched pipeline vs one round trip per customer`);
    console.log('customers   batched p50   p99   baseline p50   p99   baseline/batched (p50)');
    for (const n of [1, 100, 500]) {
      const batched = summary(await time(() => stores.servingStore.readMany(randomIds(n))));
      const baseline = summary(
        await time(async () => {
          for (const id of randomIds(n)) await stores.redis.hgetall(stores.keys.customer(id));
        }),
      );
      console.log(
        `${String(n).padStart(9)} ${ms(batched.p50)} ${ms(batched.p99)} ${ms(baseline.p50)} ${ms(baseline.p99)} ${(baseline.p50 / batched.p50).toFixed(1).padStart(10)}x`,
      );
    }
    await server.stop();
  } finally {
    await stores.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
