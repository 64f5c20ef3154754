/**
 * npm run board:screenshot
 *
 * Checks the queue board in a real browser and saves docs/queue-board.png
 * (docs/operations.md "Queue board"). It starts a subgraph on a throwaway database and
 * Redis prefix (from DATABASE_URL and REDIS_URL's servers), puts a few jobs
 * in every queue, signs in through the real form (POST /admin/sign-in) with
 * a token for a secret of its own, and points headless Chromium (Debian's
 * `chromium`, or CHROMIUM) at a small local proxy that adds the session
 * cookie to every request: Chromium's command line cannot set cookies or
 * headers, and a token in a URL would end up in logs. `--dump-dom` must show
 * the three queue names, then `--screenshot` takes the picture. Everything
 * it created is deleted before it exits.
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Worker } from 'bullmq';
import { SignJWT } from 'jose';
import pg from 'pg';
import { apiStores, createApiDependencies } from '../src/graphql/api-dependencies.js';
import { loadConfig, type AuthConfig } from '../src/platform/config.js';
import { createMaintenanceQueue, MAINTENANCE_QUEUE } from '../src/jobs/maintenance-queue.js';
import { bullConnection } from '../src/stores/redis/bull-connection.js';
import type { BullPrefixes } from '../src/jobs/bull-prefixes.js';
import { addOrderCreated, createOrderEventsQueue } from '../src/jobs/order-events-queue.js';
import { createRecomputeQueue } from '../src/jobs/recompute-queue.js';
import { createLogger } from '../src/platform/logger.js';
import { BOARD_QUEUES, QUEUE_BOARD_PATH, QueueBoard, SIGN_IN_PATH } from '../src/http/queue-board/index.js';
import { createServer } from '../src/http/server.js';
import { prepareDatabase } from '../src/platform/prepare-database.js';
import { openStoreClients } from '../src/platform/store-clients.js';
import { openServing } from '../src/serving/open-serving.js';

const SCREENSHOT = path.resolve('docs/queue-board.png');
const CHROMIUM = process.env.CHROMIUM ?? 'chromium';
const run = promisify(execFile);

async function main() {
  const config = loadConfig();
  const logger = createLogger('warn', 'board-screenshot');
  const id = randomUUID().replaceAll('-', '').slice(0, 12);
  const databaseUrl = new URL(config.databaseUrl);
  databaseUrl.pathname = `/segments_board_${id}`;
  const auth: AuthConfig = { secret: randomBytes(32).toString('hex'), issuer: 'board-screenshot', audience: 'segments' };
  const cleanups: Array<() => Promise<unknown>> = [];
  try {
    // Cleanups run last-registered first: the Redis keys go after everything that writes them has stopped.
    cleanups.unshift(() => dropDatabase(databaseUrl));
    await prepareDatabase(databaseUrl.toString());
    const stores = openStoreClients({ ...config, databaseUrl: databaseUrl.toString(), redisPrefix: `board-screenshot:${id}:` }, logger);
    cleanups.unshift(() => stores.close());
    const serving = await openServing(stores, logger);
    cleanups.unshift(() => deleteKeys(stores.redis, `board-screenshot:${id}:*`));
    const connection = bullConnection(config.redis, 'segments-board-screenshot');
    await addSomeJobs(connection, stores.keys, cleanups);

    const queueBoard = new QueueBoard({ connection, keys: stores.keys, logger });
    const server = createServer(
      { introspection: false, landingPage: false },
      { ...createApiDependencies(apiStores(stores, serving), auth), logger, checkReadiness: () => stores.checkReadiness(), queueBoard },
    );
    const port = await server.listen(0, '127.0.0.1');
    cleanups.unshift(() => queueBoard.close(), () => server.stop());
    const cookie = await signIn(`http://127.0.0.1:${port}`, await adminToken(auth));

    const proxy = await cookieProxy(port, cookie);
    cleanups.unshift(() => new Promise((done) => proxy.server.close(done)));
    const profile = await mkdtemp(path.join(tmpdir(), 'board-chromium-'));
    cleanups.unshift(() => rm(profile, { recursive: true, force: true }));
    const url = `http://127.0.0.1:${proxy.port}${QUEUE_BOARD_PATH}`;

    const dom = await chromium(profile, ['--dump-dom', url]);
    const missing = BOARD_QUEUES.filter((name) => !dom.includes(name));
    if (missing.length > 0) throw new Error(`The board rendered in Chromium does not show ${missing.join(', ')}`);
    await chromium(profile, ['--window-size=1280,900', `--screenshot=${SCREENSHOT}`, url]);
    console.log(`The board shows ${BOARD_QUEUES.join(', ')}; screenshot: ${path.relative(process.cwd(), SCREENSHOT)}`);
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((error: unknown) => logger.warn({ err: error }, 'cleanup failed'));
  }
}

/** Waiting, delayed, completed and failed jobs, so every kind of count shows. */
async function addSomeJobs(connection: ReturnType<typeof bullConnection>, keys: BullPrefixes, cleanups: Array<() => Promise<unknown>>) {
  const recompute = createRecomputeQueue(connection, keys);
  const orders = createOrderEventsQueue(connection, keys);
  const maintenance = createMaintenanceQueue(connection, keys);
  cleanups.unshift(() => Promise.all([recompute.close(), orders.close(), maintenance.close()]));
  for (const segmentId of [101, 102, 103]) await recompute.add('recompute-segment', { segmentId });
  await recompute.add('recompute-segment', { segmentId: 104 }, { delay: 3_600_000 });
  await addOrderCreated(orders, { type: 'order.created', orderId: 'demo-1', customerId: 'demo-customer' });
  await maintenance.add('publish-membership-events', {}, { attempts: 1 });
  await maintenance.add('time-maintenance', {}, { attempts: 1 });
  // A stand-in worker (not the service's): one job completes, one fails, then it stops.
  let processed = 0;
  await new Promise<void>((done, fail) => {
    const worker = new Worker(
      MAINTENANCE_QUEUE,
      async (job) => {
        if (job.name === 'time-maintenance') throw new Error('demo failure for the screenshot');
      },
      { connection, prefix: keys.bullPrefix(MAINTENANCE_QUEUE) },
    );
    worker.on('error', fail);
    const settled = () => {
      if (++processed === 2) void worker.close().then(done, fail);
    };
    worker.on('completed', settled).on('failed', settled);
  });
}

async function adminToken(auth: AuthConfig): Promise<string> {
  return new SignJWT({ scope: 'segments:write' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('board-screenshot')
    .setIssuer(auth.issuer!)
    .setAudience(auth.audience!)
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(auth.secret));
}

/** Signs in through the form, as a person's browser would, and returns the session cookie. */
async function signIn(origin: string, token: string): Promise<string> {
  const response = await fetch(`${origin}${SIGN_IN_PATH}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin },
    body: new URLSearchParams({ token }).toString(),
  });
  const cookie = response.headers.get('set-cookie')?.split(';')[0];
  if (response.status !== 303 || !cookie) throw new Error(`Sign-in answered ${response.status} without a session cookie`);
  return cookie;
}

/** A reverse proxy to the subgraph that adds the session cookie to every request, as a signed-in browser sends it. */
async function cookieProxy(targetPort: number, cookie: string): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => {
    const upstream = http.request(
      { host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: { ...req.headers, cookie } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0 };
}

/** Runs headless Chromium once and returns what it printed; `--virtual-time-budget` lets the React UI load and render. */
async function chromium(profile: string, args: string[]): Promise<string> {
  const { stdout } = await run(
    CHROMIUM,
    [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--hide-scrollbars',
      // The board's page links a web font; nothing leaves this machine.
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
      `--user-data-dir=${profile}`,
      '--virtual-time-budget=15000',
      ...args,
    ],
    { timeout: 120_000, maxBuffer: 32 * 1024 * 1024 },
  ).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
    throw new Error(`no browser at "${CHROMIUM}": install Debian's chromium (apt-get install chromium), or set CHROMIUM to a Chromium binary`);
  });
  return stdout;
}

async function dropDatabase(databaseUrl: URL): Promise<void> {
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(databaseUrl.pathname.slice(1))} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

async function deleteKeys(redis: { scan: (...args: any[]) => Promise<[string, string[]]>; del: (...keys: string[]) => Promise<number> }, pattern: string) {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
