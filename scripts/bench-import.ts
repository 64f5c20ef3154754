/**
 * npm run bench:import -- [--ids 1000000] [--changed 0.5] [--sample 1000] [--wait-timeout 600]
 *
 * Measures the STATIC member import (`PUT /admin/segments/{id}/members`) end
 * to end, with the service running as two child processes (`node
 * dist/src/index.js worker` and `... subgraph`, as `npm run start:worker` and
 * `start:subgraph` run them) against real Postgres and Redis:
 *
 * 1. a baseline: a bare `COPY` of the same ids into an unlogged table, from
 *    this process, streamed the same way;
 * 2. the first import of `--ids` ids into an empty STATIC segment: time until
 *    the answer, then until served (no unpublished membership event left, and
 *    the serving watermark past the answer);
 * 3. a second import in which `--changed` of the ids are replaced by new ones:
 *    the same two times;
 * 4. page reads while each import is answered, then until it is served: a reader asks the
 *    subgraph for pages of PAGE_SIZE customers (half of them in the new list,
 *    half in the old one), one page after another, and counts pages that were
 *    neither wholly the old set nor wholly the new one (there must be none),
 *    with their latency next to the same reads before the import (baseline);
 * 5. checks: the answers' counts, `segment_memberships` against the list,
 *    and `--sample` random customers' Redis serving keys against it (members
 *    and former members);
 * 6. peak RSS (VmHWM) of both processes: the list is streamed, never held.
 *
 * The client streams the list too, generated a chunk at a time. Results
 * print as they complete and go to bench/results/import-<ISO timestamp>.json;
 * the children's logs to bench/results/logs/.
 *
 * Uses BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/segments_bench_import),
 * REDIS_URL (default redis://127.0.0.1:6379) and BENCH_REDIS_PREFIX (default
 * `bench-import:`). It resets everything it owns before measuring: every
 * segment (with its memberships and events) and every Redis key under its prefix.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import { from as copyFrom } from 'pg-copy-streams';
import { migrationsDir } from '../src/platform/paths.js';
import { migrate } from '../src/stores/postgres/migrator.js';
import { createPool, ensureDatabase } from '../src/stores/postgres/pool.js';
import { redisKeys } from '../src/stores/redis/keys.js';
import { benchRun, hasExited, peakRssMb, serviceEntry, startChild, stopAllChildren, tail } from './bench-processes.js';
import { freePort } from './free-port.js';

// The queue whose worker publishes membership events (docs/pipeline.md).
const MAINTENANCE_QUEUE = 'maintenance';
// Ids per chunk the client writes: about 150 KB.
const IDS_PER_CHUNK = 10_000;
const POLL_MS = 100;
// Customers per page read, as a router's _entities call for a page of results.
const PAGE_SIZE = 100;
// Requests come as the router's would: with the subgraph's shared secret.
const ROUTER_SECRET = randomBytes(32).toString('hex');
// Page reads before an import, for the baseline latency.
const BASELINE_PAGES = 200;

type Ranges = ReadonlyArray<{ first: number; count: number }>;
const inRanges = (ranges: Ranges, n: number) => ranges.some((r) => n >= r.first && n < r.first + r.count);
const randomIn = (ranges: Ranges) => {
  const range = ranges[Math.floor(Math.random() * ranges.length)]!;
  return range.first + Math.floor(Math.random() * range.count);
};
const percentile = (sorted: readonly number[], p: number) => (sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!);

/** What page reads saw: how many, how many were wholly old, wholly new or neither, and their latency. */
interface PageReads {
  pages: number;
  old: number;
  new: number;
  mixed: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

/**
 * Reads pages of customers of `segmentId` through the subgraph, one after
 * another, until `stop` is called: half the customers of each page from
 * `newRanges`, half from `oldRanges` (all new when there is no old set). A
 * page must show either every customer's old membership or every customer's
 * new one.
 */
function readPages(base: string, token: string, segmentId: number, oldRanges: Ranges, newRanges: Ranges): { pages: () => number; stop: () => Promise<PageReads> } {
  const reads: PageReads = { pages: 0, old: 0, new: 0, mixed: 0, p50Ms: null, p99Ms: null };
  const latencies: number[] = [];
  let stopped = false;
  const query = `query ($r: [_Any!]!, $s: ID!) { _entities(representations: $r) { ... on Customer { isInSegment(id: $s) } } }`;
  const loop = (async () => {
    while (!stopped) {
      const numbers = Array.from({ length: PAGE_SIZE }, (_, i) => randomIn(i % 2 === 0 || oldRanges.length === 0 ? newRanges : oldRanges));
      const begun = performance.now();
      const response = await fetch(base, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'router-authorization': ROUTER_SECRET, authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables: { r: numbers.map((n) => ({ __typename: 'Customer', id: customerId(n) })), s: String(segmentId) } }),
      });
      const body = (await response.json()) as { data?: { _entities: Array<{ isInSegment: boolean }> }; errors?: unknown };
      latencies.push(performance.now() - begun);
      if (!body.data || body.errors) throw new Error(`a page read failed: ${JSON.stringify(body.errors)}`);
      const answers = body.data._entities.map((c) => c.isInSegment);
      const isOld = answers.every((member, i) => member === inRanges(oldRanges, numbers[i]!));
      const isNew = answers.every((member, i) => member === inRanges(newRanges, numbers[i]!));
      reads.pages++;
      if (isNew) reads.new++;
      else if (isOld) reads.old++;
      else reads.mixed++;
    }
  })();
  // Rethrown by stop(); handled now so that a failed read does not end the process before that.
  loop.catch(() => undefined);
  return {
    pages: () => reads.pages,
    async stop() {
      stopped = true;
      await loop;
      latencies.sort((a, b) => a - b);
      return { ...reads, p50Ms: round(percentile(latencies, 50)), p99Ms: round(percentile(latencies, 99)) };
    },
  };
}
const round = (ms: number | null) => (ms === null ? null : Number(ms.toFixed(1)));

const { values } = parseArgs({
  options: {
    ids: { type: 'string', default: '1000000' },
    changed: { type: 'string', default: '0.5' },
    sample: { type: 'string', default: '1000' },
    'wait-timeout': { type: 'string', default: '600' },
  },
});
const options = {
  ids: Number(values.ids.replaceAll('_', '')),
  changed: Number(values.changed),
  sample: Number(values.sample),
  waitTimeout: Number(values['wait-timeout']),
};
if (!Number.isInteger(options.ids) || options.ids < 1) throw new Error('--ids must be a whole number of at least 1');
if (!(options.changed >= 0 && options.changed <= 1)) throw new Error('--changed must be between 0 and 1');
if (!Number.isInteger(options.sample) || options.sample < 0) throw new Error('--sample must be a whole number');
if (!Number.isInteger(options.waitTimeout) || options.waitTimeout < 1) throw new Error('--wait-timeout must be a whole number of seconds');

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));
const seconds = (ms: number) => Number((ms / 1000).toFixed(2));
const customerId = (n: number) => `cust-${String(n).padStart(8, '0')}`;

/**
 * The list of one import: customers `first`..`first + count - 1`, generated a
 * chunk at a time, so neither side ever holds it whole.
 */
function list(ranges: ReadonlyArray<{ first: number; count: number }>): Readable {
  return Readable.from(
    (function* () {
      for (const { first, count } of ranges) {
        for (let start = first; start < first + count; start += IDS_PER_CHUNK) {
          let chunk = '';
          for (let n = start; n < Math.min(first + count, start + IDS_PER_CHUNK); n++) chunk += `${customerId(n)}\n`;
          yield Buffer.from(chunk);
        }
      }
    })(),
    { objectMode: false },
  );
}

/** PUTs a streamed list; resolves with the status and the parsed answer. */
function put(url: URL, token: string, body: Readable): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: 'PUT', headers: { 'content-type': 'text/csv', 'router-authorization': ROUTER_SECRET, authorization: `Bearer ${token}` } });
    request.on('response', (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => {
        try {
          resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) });
        } catch (error) {
          reject(error);
        }
      });
    });
    request.on('error', reject);
    pipeline(body, request).catch(reject);
  });
}

async function main() {
  const entry = serviceEntry();

  const run = benchRun('import', options);
  const { databaseUrl, redisUrl, prefix, results, save } = run;
  const keys = redisKeys(prefix);

  const pool = createPool(databaseUrl, { max: 3, applicationName: 'bench-import' });
  const redis = new Redis(redisUrl, { connectionName: 'bench-import', maxRetriesPerRequest: 3 });
  const maintenanceQueue = new Queue(MAINTENANCE_QUEUE, { connection: { url: redisUrl, maxRetriesPerRequest: null }, prefix: keys.bullPrefix(MAINTENANCE_QUEUE) });
  const count = async (sql: string, params: unknown[] = []) => Number((await pool.query<{ n: string }>(sql, params)).rows[0]!.n);

  let interrupted = false;
  const interrupt = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    void stopAllChildren().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', interrupt).on('SIGTERM', interrupt);

  try {
    // ------------------------------------------------------------ reset
    await ensureDatabase(databaseUrl);
    await migrate(pool, migrationsDir);
    await pool.query('TRUNCATE segments, segment_memberships, segment_membership_events, membership_event_outbox, segment_size_deltas, segment_evaluations RESTART IDENTITY CASCADE');
    await pool.query('TRUNCATE customer_change_outbox');
    await pool.query('DROP TABLE IF EXISTS bench_import_baseline');
    let cursor = '0';
    let deletedKeys = 0;
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (found.length > 0) deletedKeys += await redis.unlink(...found);
    } while (cursor !== '0');
    // An empty database's serving store is complete: mark it built, as a rebuild would, so the worker starts serving at once.
    await redis.set(keys.servingBuilt(0), new Date().toISOString());
    await pool.query('VACUUM ANALYZE segment_memberships, segment_membership_events, segments');
    results.postgres = (await pool.query('SHOW server_version')).rows[0].server_version;
    results.redis = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? null;
    console.log(`database ${String(results.database)}, Redis prefix ${prefix} (deleted ${deletedKeys} keys), ${options.ids} ids`);

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
      ROUTER_SHARED_SECRET: ROUTER_SECRET,
      LOG_LEVEL: 'warn',
    };
    for (const name of ['JWT_ISSUER', 'JWT_AUDIENCE', 'JWT_JWKS_URL', 'MEMBER_IMPORT_MAX_BYTES']) delete env[name];
    const token = await new SignJWT({ scope: 'segments:read segments:write' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('bench-import')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(secret));
    const worker = startChild('worker', entry, env, run.logFile('worker'));
    const subgraph = startChild('subgraph', entry, env, run.logFile('subgraph'));
    const base = `http://127.0.0.1:${port}/`;
    const alive = () => {
      for (const child of [worker, subgraph]) {
        if (hasExited(child)) throw new Error(`the ${child.role} exited (${child.process.exitCode ?? child.process.signalCode}):\n${tail(child.log)}`);
      }
    };
    for (const deadline = performance.now() + 60_000; ; await sleep(100)) {
      alive();
      const ready = (await fetch(`${base}health/ready`).then((r) => r.status, () => 0)) === 200 && (await maintenanceQueue.getWorkersCount()) > 0;
      if (ready) break;
      if (performance.now() > deadline) throw new Error(`the service was not ready within 60 s:\n${tail(subgraph.log)}\n${tail(worker.log)}`);
    }
    const created = await fetch(base, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'router-authorization': ROUTER_SECRET, authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: 'mutation { createSegment(input: { name: "ML output" }) { id kind } }' }),
    }).then((r) => r.json() as Promise<{ data: { createSegment: { id: string; kind: string } } }>);
    const segmentId = Number(created.data.createSegment.id);
    const importUrl = new URL(`/admin/segments/${segmentId}/members`, base);

    // ------------------------------------------------------------ measurements
    const baseline = async (ranges: Array<{ first: number; count: number }>) => {
      const client = await pool.connect();
      try {
        await client.query('DROP TABLE IF EXISTS bench_import_baseline');
        await client.query('CREATE UNLOGGED TABLE bench_import_baseline (customer_id text NOT NULL)');
        const begun = performance.now();
        await pipeline(list(ranges), client.query(copyFrom('COPY bench_import_baseline (customer_id) FROM STDIN')));
        const ms = performance.now() - begun;
        await client.query('DROP TABLE bench_import_baseline');
        return ms;
      } finally {
        client.release();
      }
    };

    const unpublished = () => count('SELECT count(*) AS n FROM membership_event_outbox');
    const importOnce = async (name: string, ranges: Ranges, oldRanges: Ranges, expected: { entered: number; left: number }) => {
      console.log(`\n${name}`);
      const bareMs = await baseline([...ranges]);
      console.log(`  baseline: bare COPY of the same ${options.ids} ids into an unlogged table: ${seconds(bareMs)} s`);
      // The same reads with no import in flight: every page is the old set.
      const steady = readPages(base, token, segmentId, oldRanges, oldRanges.length > 0 ? oldRanges : ranges);
      while (steady.pages() < BASELINE_PAGES) await sleep(POLL_MS);
      const pagesBefore = await steady.stop();
      console.log(`  page reads before the import: ${pagesBefore.pages} pages of ${PAGE_SIZE}, p50 ${pagesBefore.p50Ms} ms, p99 ${pagesBefore.p99Ms} ms`);
      const begun = performance.now();
      const during = readPages(base, token, segmentId, oldRanges, ranges);
      const answer = await put(importUrl, token, list(ranges));
      const answeredMs = performance.now() - begun;
      const answeredAt = Date.now();
      const pagesWhileAnswering = await during.stop();
      const publishing = readPages(base, token, segmentId, oldRanges, ranges);
      if (answer.status !== 200) throw new Error(`the import answered ${answer.status}: ${JSON.stringify(answer.body)}`);
      console.log(`  answered after ${seconds(answeredMs)} s: ${JSON.stringify(answer.body)}`);
      const expectedAnswer = { size: options.ids, ...expected };
      const countsRight = JSON.stringify(answer.body) === JSON.stringify(expectedAnswer);
      if (!countsRight) console.log(`  UNEXPECTED ANSWER: wanted ${JSON.stringify(expectedAnswer)}`);
      let servedMs: number | null = null;
      let lastReport = performance.now();
      for (;;) {
        alive();
        const left = await unpublished();
        const watermark = Number((await redis.get(keys.servingUpToDate(0))) ?? 0);
        if (left === 0 && watermark >= answeredAt) {
          servedMs = performance.now() - begun;
          break;
        }
        if (performance.now() - begun > options.waitTimeout * 1000) break;
        if (performance.now() - lastReport > 10_000) {
          lastReport = performance.now();
          console.log(`  ...${left} events not published yet (${seconds(performance.now() - begun)} s)`);
        }
        await sleep(POLL_MS);
      }
      console.log(servedMs === null ? `  not served within ${options.waitTimeout} s` : `  served after ${seconds(servedMs)} s (publication: ${seconds(servedMs - answeredMs)} s)`);
      const pagesWhilePublishing = await publishing.stop();
      const describe = (reads: PageReads) =>
        `${reads.pages} pages (${reads.old} old set, ${reads.new} new set, ${reads.mixed} mixed), p50 ${reads.p50Ms} ms, p99 ${reads.p99Ms} ms`;
      console.log(`  page reads while the import was answered: ${describe(pagesWhileAnswering)}`);
      console.log(`  page reads from the answer until served: ${describe(pagesWhilePublishing)}`);
      return {
        baselineCopySeconds: seconds(bareMs),
        answeredSeconds: seconds(answeredMs),
        servedSeconds: servedMs === null ? null : seconds(servedMs),
        answer: answer.body,
        countsRight,
        pageReads: { before: pagesBefore, whileAnswering: pagesWhileAnswering, untilServed: pagesWhilePublishing },
      };
    };

    /** Postgres members against the list, and a random sample of Redis serving keys against it. */
    const check = async (ranges: Array<{ first: number; count: number }>, formerRange: { first: number; count: number } | null) => {
      const inList = (n: number) => ranges.some((r) => n >= r.first && n < r.first + r.count);
      const { rows } = await pool.query<{ n: string; min: string; max: string }>(
        'SELECT count(*) AS n, min(customer_id), max(customer_id) FROM segment_memberships WHERE segment_id = $1',
        [segmentId],
      );
      const sample = new Set<number>();
      const all = [...ranges, ...(formerRange ? [formerRange] : [])];
      const wanted = Math.min(options.sample, all.reduce((sum, r) => sum + r.count, 0));
      for (let i = 0; sample.size < wanted; i++) {
        const range = all[i % all.length]!;
        sample.add(range.first + Math.floor(Math.random() * range.count));
      }
      const sampleIds = [...sample];
      const pipe = redis.pipeline();
      for (const n of sampleIds) pipe.hexists(keys.customer(customerId(n)), String(segmentId));
      const replies = (await pipe.exec()) ?? [];
      const wrong = sampleIds.filter((n, i) => (replies[i]![1] === 1) !== inList(n)).length;
      const inPostgres = await count(
        'SELECT count(*) AS n FROM segment_memberships WHERE segment_id = $1 AND customer_id = ANY($2::text[])',
        [segmentId, sampleIds.map(customerId)],
      );
      return {
        postgresMembers: Number(rows[0]!.n),
        sampled: sampleIds.length,
        servedWrong: wrong,
        sampleMembersInPostgres: inPostgres,
        sampleMembersInList: sampleIds.filter(inList).length,
      };
    };

    const firstRanges = [{ first: 1, count: options.ids }];
    const first = await importOnce('1. first import into an empty STATIC segment', firstRanges, [], { entered: options.ids, left: 0 });
    const firstCheck = await check(firstRanges, null);
    console.log(`  check: ${JSON.stringify(firstCheck)}`);
    results.first = { ...first, check: firstCheck };
    save();

    const replaced = Math.round(options.ids * options.changed);
    const secondRanges = [
      { first: 1, count: options.ids - replaced },
      { first: options.ids + 1, count: replaced },
    ].filter((r) => r.count > 0);
    const second = await importOnce(`2. second import, ${replaced} of the ids replaced by new ones`, secondRanges, firstRanges, { entered: replaced, left: replaced });
    const secondCheck = await check(secondRanges, replaced > 0 ? { first: options.ids - replaced + 1, count: replaced } : null);
    console.log(`  check: ${JSON.stringify(secondCheck)}`);
    results.second = { ...second, check: secondCheck };

    results.peakRssMb = { subgraph: peakRssMb(subgraph.process.pid), worker: peakRssMb(worker.process.pid) };
    console.log(`\npeak RSS: subgraph ${(results.peakRssMb as Record<string, number>).subgraph} MB, worker ${(results.peakRssMb as Record<string, number>).worker} MB`);
    results.finishedAt = new Date().toISOString();
    save();
    console.log(`results: ${run.resultFile('.json')}`);
  } finally {
    await stopAllChildren();
    await maintenanceQueue.close();
    redis.disconnect();
    await pool.end();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  void stopAllChildren().finally(() => process.exit(1));
});
