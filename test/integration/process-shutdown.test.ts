import { prepareDatabase } from '../../src/platform/prepare-database.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/free-port.js';
import { createTestNamespace, TEST_REDIS_URL, type TestNamespace } from '../helpers/test-environment.js';

// src/index.ts: a graceful stop ends well before this; past it the process exits with status 1.
const SHUTDOWN_GRACE_MS = 25_000;
const ROOT = new URL('../../', import.meta.url).pathname;

type LogLine = Record<string, any>;

interface RunningScript {
  npm: ChildProcess;
  lines: LogLine[];
  /** Resolves with the first log line that has this message. */
  logged(msg: string): Promise<LogLine>;
}

/**
 * Runs `npm run <script>` as an operator would, in a namespace of its own, and
 * reads its JSON log lines. `--ignore-scripts` skips the build (`prestart`)
 * when an earlier test has just built.
 */
function runScript(script: string, namespace: TestNamespace, port: number, npmArgs: string[] = []): RunningScript {
  const npm = spawn('npm', ['run', '--silent', script, ...npmArgs], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: namespace.databaseUrl,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_PREFIX: namespace.redisPrefix,
      PORT: String(port),
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: LogLine[] = [];
  const waiting: Array<{ msg: string; resolve: (line: LogLine) => void }> = [];
  createInterface({ input: npm.stdout }).on('line', (text) => {
    if (!text.startsWith('{')) return;
    const line = JSON.parse(text) as LogLine;
    lines.push(line);
    for (const w of waiting.filter((w) => w.msg === line.msg)) w.resolve(line);
  });
  return {
    npm,
    lines,
    logged: (msg) =>
      new Promise((resolve, reject) => {
        const seen = lines.find((line) => line.msg === msg);
        if (seen) return resolve(seen);
        waiting.push({ msg, resolve });
        npm.once('exit', (code) => reject(new Error(`npm run ${script} exited (${code}) before logging "${msg}"`)));
      }),
  };
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('SIGTERM to the npm start scripts', () => {
  let namespace: TestNamespace;
  let servicePid: number | undefined;

  afterEach(async () => {
    // A process that did not stop must not outlive the test.
    if (servicePid !== undefined && isRunning(servicePid)) process.kill(servicePid, 'SIGKILL');
    servicePid = undefined;
    await namespace?.cleanup();
  });

  it.each([
    // The first builds (`prestart`), as `npm start` on a fresh checkout does; the others reuse that build.
    { script: 'start', ready: ['subgraph ready', 'workers started'], listens: true, npmArgs: [] },
    { script: 'start:subgraph', ready: ['subgraph ready'], listens: true, npmArgs: ['--ignore-scripts'] },
    { script: 'start:worker', ready: ['workers started'], listens: false, npmArgs: ['--ignore-scripts'] },
  ])('npm run $script stops the service gracefully, within its budget', async ({ script, ready, listens, npmArgs }) => {
    namespace = createTestNamespace();
    // The roles started apart run on a schema the migration step prepared, as a deployment does.
    if (script !== 'start') await prepareDatabase(namespace.databaseUrl);
    const port = await freePort();
    const run = runScript(script, namespace, port, npmArgs);
    const readyLines = await Promise.all(ready.map((msg) => run.logged(msg)));
    servicePid = readyLines[0]!.pid as number;
    // The service is node itself, not a shell between npm and node.
    expect(servicePid).not.toBe(run.npm.pid);
    if (listens) expect((await fetch(`http://127.0.0.1:${port}/health/live`)).status).toBe(200);

    const exited = once(run.npm, 'exit');
    run.npm.kill('SIGTERM');
    const stopped = await Promise.race([
      run.logged('stopped'),
      new Promise<null>((resolve) => setTimeout(() => resolve(null), SHUTDOWN_GRACE_MS + 5_000).unref()),
    ]);
    // 'stopped' is logged just before a graceful exit; the shutdown deadline logs an error and exits without it.
    expect(stopped).toMatchObject({ pid: servicePid, msg: 'stopped' });
    expect(run.lines.filter((line) => line.level >= 50)).toEqual([]);
    const [npmExitCode] = await exited;
    expect(npmExitCode).toBe(0);
    expect(isRunning(servicePid)).toBe(false);
    if (listens) await expect(fetch(`http://127.0.0.1:${port}/health/live`)).rejects.toThrow();
  }, 180_000);
});
