import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// The benchmarks run the service as `npm run start:worker` / `start:subgraph`
// and the compose file do: child processes of the built entry point, with the
// same heap flags, their output in a log file each.

const WORKER_HEAP_FLAG = '--max-old-space-size=256';
const SUBGRAPH_HEAP_FLAG = '--max-semi-space-size=32';
// Longer than the service's own shutdown budget (25 s).
const STOP_TIMEOUT_MS = 35_000;

/** The folder holding package.json, wherever the benchmark runs from (sources or dist/). */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
  return dir;
}

/** The built service entry point (dist/src/index.js); throws when the code is not built. */
export function serviceEntry(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const entry = [resolve(here, '../src/index.js'), join(projectRoot(), 'dist/src/index.js')].find((file) => existsSync(file));
  if (!entry) throw new Error('dist/src/index.js is missing: run `npm run build` first');
  return entry;
}

/** Peak resident set size of a process in MB (VmHWM), or null when it is gone. */
export function peakRssMb(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number((Number(match[1]) / 1024).toFixed(1)) : null;
  } catch {
    return null;
  }
}

// USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on every Linux build that matters.
const CLOCK_TICKS_PER_SECOND = 100;

/** CPU time (user + system) a process has used so far, in ms, or null when it is gone. */
export function cpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces), from field 3 (state): utime is field 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/**
 * The CPU time a changing set of processes (workers, Postgres backends) uses
 * from the first `sample()` on. Processes that appear later count from their
 * start; one that ends between two samples loses what it used since the last.
 */
export class CpuMeter {
  private readonly baseline = new Map<number, number>();
  private readonly latest = new Map<number, number>();
  private sampled = false;

  constructor(private readonly pids: () => Promise<ReadonlyArray<number | undefined>>) {}

  async sample(): Promise<void> {
    for (const pid of await this.pids()) {
      const ms = cpuMs(pid);
      if (pid === undefined || ms === null) continue;
      if (!this.baseline.has(pid)) this.baseline.set(pid, this.sampled ? 0 : ms);
      this.latest.set(pid, ms);
    }
    this.sampled = true;
  }

  /** CPU ms used since the first sample. */
  get usedMs(): number {
    let total = 0;
    for (const [pid, ms] of this.latest) total += ms - (this.baseline.get(pid) ?? 0);
    return total;
  }
}

export interface Child {
  role: 'worker' | 'subgraph';
  process: ChildProcess;
  exited: Promise<number | null>;
  log: string;
}
const children = new Set<Child>();

/**
 * Starts the service in one role. BENCH_WORKER_NODE_ARGS (for example
 * `--trace-gc`) adds node flags to the worker, to profile it.
 */
export function startChild(role: Child['role'], entry: string, env: NodeJS.ProcessEnv, log: string): Child {
  const fd = openSync(log, 'a');
  const nodeArgs = role === 'worker' ? [WORKER_HEAP_FLAG, ...(process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean)] : [SUBGRAPH_HEAP_FLAG];
  const child = spawn(process.execPath, [...nodeArgs, entry, role], { env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const handle: Child = { role, process: child, exited, log };
  children.add(handle);
  void exited.then(() => children.delete(handle));
  return handle;
}

export const hasExited = (child: Child) => child.process.exitCode !== null || child.process.signalCode !== null;

/** SIGTERM, then SIGKILL if the child has not stopped within STOP_TIMEOUT_MS. */
export async function stopChild(child: Child): Promise<void> {
  if (hasExited(child)) return;
  child.process.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((done) => (timer = setTimeout(() => done('timeout'), STOP_TIMEOUT_MS)));
  const outcome = await Promise.race([child.exited, timeout]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    console.error(`  ${child.role} (pid ${child.process.pid}) did not stop within ${STOP_TIMEOUT_MS / 1000} s of SIGTERM: killing it`);
    child.process.kill('SIGKILL');
    await child.exited;
  }
}

/** Stops every child still running. */
export async function stopAllChildren(): Promise<void> {
  await Promise.allSettled([...children].map(stopChild));
}

/** The last lines of a log file, for an error message. */
export function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Where one benchmark run reads and writes, and its results so far. */
export interface BenchRun {
  /** BENCH_DATABASE_URL, by default the database `segments_bench_{kind}`. */
  databaseUrl: string;
  /** REDIS_URL, by default the local Redis. */
  redisUrl: string;
  /** BENCH_REDIS_PREFIX, by default `bench-{kind}:`. */
  prefix: string;
  startedAt: Date;
  /** bench/results/logs, created. */
  logsDir: string;
  /** `bench/results/{kind}-{timestamp}{suffix}`: the run's file of that kind. */
  resultFile(suffix: string): string;
  /** The children's log of `role`, in `logsDir`. */
  logFile(role: string): string;
  /** Written by `save` as `resultFile('.json')`; starts with what identifies the run. */
  results: Record<string, unknown>;
  save: () => void;
}

/** The setup every benchmark shares: its database, Redis prefix and result files. */
export function benchRun(kind: string, options: unknown): BenchRun {
  const databaseUrl = process.env.BENCH_DATABASE_URL ?? `postgres://postgres@127.0.0.1:5432/segments_bench_${kind}`;
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = process.env.BENCH_REDIS_PREFIX ?? `bench-${kind}:`;
  if (!/^[A-Za-z0-9:_.-]{1,64}$/.test(prefix)) throw new Error('BENCH_REDIS_PREFIX must be 1-64 characters of letters, digits and : _ . -');
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replaceAll(':', '-');
  const resultsDir = join(projectRoot(), 'bench/results');
  const logsDir = join(resultsDir, 'logs');
  mkdirSync(logsDir, { recursive: true });
  const resultFile = (suffix: string) => join(resultsDir, `${kind}-${stamp}${suffix}`);
  const results: Record<string, unknown> = {
    startedAt: startedAt.toISOString(),
    options,
    database: databaseUrl.replace(/\/\/[^@/]*@/, '//'),
    redisPrefix: prefix,
    node: process.version,
  };
  return {
    databaseUrl,
    redisUrl,
    prefix,
    startedAt,
    logsDir,
    resultFile,
    logFile: (role) => join(logsDir, `${kind}-${stamp}-${role}.log`),
    results,
    save: () => writeFileSync(resultFile('.json'), `${JSON.stringify(results, null, 2)}\n`),
  };
}
