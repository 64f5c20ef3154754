/**
 * npm run bench:workers -- [--workers 2] [--rounds 3] [--backlog 100000]
 *
 * Event throughput of 1 worker process against `--workers`, and where the
 * machine's CPU went (issue 15, "More workers, more throughput"). Runs on the
 * database `npm run bench:pipeline` left (BENCH_DATABASE_URL, BENCH_REDIS_PREFIX
 * `bench-pipeline:`), with its segments as they are: each drain is a backlog
 * of `--backlog` orders (the pipeline benchmark's draw: uniform customers,
 * power-law stores) written while no worker runs; the workers start while the
 * change outbox is locked, so that they begin together, and the time runs
 * from the lock's release until the outbox and the publication outbox are
 * empty. Rounds alternate (1, N, N, 1, 1, N...) so that a database warming
 * up favours neither. CPU is read from /proc: the workers, every backend of
 * the Postgres whose postmaster.pid is in BENCH_POSTGRES_DATA (the server's
 * data folder; without it Postgres and Redis count in "other"), Redis, and
 * the machine as a whole. Results go to bench/results/workers-<ISO>.json.
 */
import { execSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { prng, SEEDED_STORES, storeId } from './bench-segment-mix.js';
import { benchRun, cpuMs, serviceEntry, startChild, stopAllChildren, stopChild, type Child } from './bench-processes.js';
import { freePort } from './free-port.js';

const { values } = parseArgs({
  options: { workers: { type: 'string', default: '2' }, rounds: { type: 'string', default: '3' }, backlog: { type: 'string', default: '100000' } },
});
const options = { workers: Number(values.workers), rounds: Number(values.rounds), backlog: Number(values.backlog) };
if (!(options.workers >= 2 && options.rounds >= 1 && options.backlog >= 1000)) throw new Error('--workers 2 or more, --rounds 1 or more, --backlog 1000 or more');

interface Drain {
  workers: number;
  seconds: number;
  ordersPerSecond: number;
  /** Busy share of all the machine's cores over the drain. */
  machineBusyPercent: number;
  cpuSeconds: { workers: number; postgres: number; redis: number; other: number };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (n: number, digits = 1) => Number(n.toFixed(digits));

/** Busy and total CPU ticks of the whole machine, from the first line of /proc/stat. */
function machineTicks(): { busy: number; total: number } {
  const ticks = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  return { busy: total - ticks[3]! - ticks[4]!, total };
}
// USER_HZ: /proc/stat counts in ticks of 10 ms.
const TICK_MS = 10;

function postgresPids(): number[] {
  const data = process.env.BENCH_POSTGRES_DATA;
  if (!data) return [];
  const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  return [
    postmaster,
    ...readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .map(Number)
      .filter((pid) => {
        try {
          const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
          return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === postmaster;
        } catch {
          return false;
        }
      }),
  ];
}

async function main(): Promise<void> {
  const run = benchRun('workers', options);
  const pool = new pg.Pool({ connectionString: run.databaseUrl, max: 4, application_name: 'bench-workers' });
  const entry = serviceEntry();
  const redisPid = Number(execSync('pgrep -x redis-server').toString().trim().split('\n')[0]);
  const count = async (sql: string) => Number((await pool.query<{ n: string }>(sql)).rows[0]!.n);
  const segments = await count(`SELECT count(*) AS n FROM segments WHERE status = 'ACTIVE'`);
  console.log(`${segments} live segments in ${String(run.results.database)}; ${options.backlog} orders a drain; 1 against ${options.workers} workers, ${options.rounds} rounds`);
  const random = prng(0x5eed);
  let drainNumber = 0;

  const drain = async (workers: number): Promise<Drain> => {
    drainNumber++;
    for (let from = 0; from < options.backlog; from += 1000) {
      const rows = Math.min(1000, options.backlog - from);
      const columns = { id: [] as string[], customer: [] as string[], store: [] as string[], total: [] as number[] };
      for (let i = 0; i < rows; i++) {
        columns.id.push(`bench-w-${run.startedAt.getTime()}-${drainNumber}-${from + i}`);
        columns.customer.push(`cust-${String(1 + Math.floor(random() * 1_000_000)).padStart(8, '0')}`);
        columns.store.push(storeId(1 + Math.floor(SEEDED_STORES * random() ** 2.5)));
        columns.total.push(300 + Math.floor(random() ** 2 * 9700));
      }
      await pool.query(
        `INSERT INTO orders (id, customer_id, store_id, total_cents, created_at)
         SELECT id, c, s, t, now() FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS o (id, c, s, t)`,
        [columns.id, columns.customer, columns.store, columns.total],
      );
    }
    const gate = await pool.connect();
    const children: Child[] = [];
    try {
      await gate.query('BEGIN');
      await gate.query('LOCK TABLE customer_change_outbox IN EXCLUSIVE MODE');
      const env = { ...process.env, NODE_ENV: 'production', DATABASE_URL: run.databaseUrl, REDIS_URL: run.redisUrl, REDIS_PREFIX: process.env.BENCH_REDIS_PREFIX ?? 'bench-pipeline:', LOG_LEVEL: 'warn' };
      const ports: number[] = [];
      for (let i = 0; i < workers; i++) ports.push(await freePort());
      for (const [i, port] of ports.entries()) children.push(startChild('worker', entry, { ...env, WORKER_PORT: String(port) }, run.logFile(`drain-${drainNumber}-worker-${i + 1}`)));
      for (const port of ports) {
        while (!(await fetch(`http://127.0.0.1:${port}/health/ready`).then((r) => r.ok, () => false))) await sleep(100);
      }
      await sleep(1000); // start-up work (schedules, rule index) out of the way
      const workerBase = children.map((c) => cpuMs(c.process.pid) ?? 0);
      const postgresBase = new Map(postgresPids().map((pid) => [pid, cpuMs(pid) ?? 0]));
      const postgresUsed = new Map<number, number>();
      const redisBase = cpuMs(redisPid) ?? 0;
      const machineBase = machineTicks();
      const started = performance.now();
      await gate.query('COMMIT');
      for (;;) {
        for (const pid of postgresPids()) {
          const ms = cpuMs(pid);
          if (ms !== null) postgresUsed.set(pid, ms - (postgresBase.get(pid) ?? 0));
        }
        const left = await count('SELECT (SELECT count(*) FROM customer_change_outbox) + (SELECT count(*) FROM membership_event_outbox) AS n');
        if (left === 0) break;
        await sleep(250);
      }
      const seconds = (performance.now() - started) / 1000;
      const machine = machineTicks();
      const workersS = children.reduce((sum, c, i) => sum + ((cpuMs(c.process.pid) ?? 0) - workerBase[i]!), 0) / 1000;
      const postgresS = [...postgresUsed.values()].reduce((a, b) => a + b, 0) / 1000;
      const redisS = ((cpuMs(redisPid) ?? 0) - redisBase) / 1000;
      const busyS = ((machine.busy - machineBase.busy) * TICK_MS) / 1000;
      const totalS = ((machine.total - machineBase.total) * TICK_MS) / 1000;
      const result: Drain = {
        workers,
        seconds: round(seconds, 2),
        ordersPerSecond: Math.round(options.backlog / seconds),
        machineBusyPercent: round((busyS / totalS) * 100),
        cpuSeconds: { workers: round(workersS), postgres: round(postgresS), redis: round(redisS), other: round(busyS - workersS - postgresS - redisS) },
      };
      console.log(`  ${JSON.stringify(result)}`);
      return result;
    } finally {
      await gate.query('ROLLBACK').catch(() => undefined);
      gate.release();
      await Promise.all(children.map(stopChild));
    }
  };

  const drains: Drain[] = [];
  try {
    for (let r = 0; r < options.rounds; r++) {
      const order = r % 2 === 0 ? [1, options.workers] : [options.workers, 1];
      for (const workers of order) drains.push(await drain(workers));
    }
  } finally {
    await stopAllChildren();
    await pool.end();
  }
  const mean = (workers: number) => {
    const of = drains.filter((d) => d.workers === workers).map((d) => d.ordersPerSecond);
    return of.reduce((a, b) => a + b, 0) / of.length;
  };
  const ratio = round(mean(options.workers) / mean(1), 2);
  run.results.drains = drains;
  run.results.ratio = ratio;
  run.save();
  console.log(`\n| workers | orders/s | machine busy | CPU s: workers / Postgres / Redis / other |\n|---|---|---|---|`);
  for (const d of drains) console.log(`| ${d.workers} | ${d.ordersPerSecond} | ${d.machineBusyPercent}% | ${d.cpuSeconds.workers} / ${d.cpuSeconds.postgres} / ${d.cpuSeconds.redis} / ${d.cpuSeconds.other} |`);
  console.log(`\nmean orders/s, ${options.workers} workers against 1: ${ratio}x (results: ${run.resultFile('.json')})`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
