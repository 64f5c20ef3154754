import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/free-port.js';
import { prepareDatabase } from '../../src/platform/prepare-database.js';
import { compileMembersQuery } from '../../src/rules/compile-sql.js';
import type { Rule } from '../../src/rules/rule.js';
import { seedOrderHistory } from '../../src/stores/postgres/order-history-seed.js';
import { createPool } from '../../src/stores/postgres/pool.js';
import { createLogger } from '../../src/platform/logger.js';
import { closeRedis, createRedis } from '../../src/stores/redis/client.js';
import { redisKeys } from '../../src/stores/redis/keys.js';
import { insertRuleSegment } from '../helpers/fixtures.js';
import { startPrimaryWithReplica, type PrimaryWithReplica } from '../helpers/postgres-replica.js';
import { startRedisCluster, type LocalRedisCluster } from '../helpers/redis-cluster.js';
import { startRoundRobin, type RoundRobin } from '../helpers/round-robin.js';
import { execute } from '../helpers/subgraph.js';
import { startSupergraph, type RunningSupergraph } from '../helpers/supergraph.js';
import { createTestNamespace } from '../helpers/test-environment.js';
import { TEST_AUTH } from '../helpers/tokens.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const CUSTOMERS = 2000;
// Rules without relative windows: their right answer does not move with the clock.
const RULES: Record<string, Rule> = {
  regulars: { orderCount: { filter: { storeIds: ['store-00001', 'store-00002'] }, op: 'GTE', value: 3 } },
  spenders: { orderTotal: { filter: { storeIds: ['store-00003'] }, op: 'GT', value: 5000 } },
  newToStore4: { orderCount: { filter: { storeIds: ['store-00004'] }, op: 'EQ', value: 0 } },
};
const EVERYONE = `{ customers { id segments { id } segmentsFreshness { source } } }`;

interface ServiceProcess {
  role: 'subgraph' | 'worker';
  child: ChildProcess;
  /** Evaluation batches this process ran (its debug log). */
  batches: number;
  port: number;
}

/**
 * A deployment on one machine: two subgraph processes behind a round-robin
 * front (the router's view of one subgraph), three worker processes, a real
 * three-master Redis Cluster and a Postgres primary with a real streaming
 * replica, every process started as `npm run start:<role>` runs it.
 */
describe('two subgraphs and three workers on a Redis Cluster and a primary with a replica', () => {
  let cluster: LocalRedisCluster;
  let postgres: PrimaryWithReplica;
  let pool: pg.Pool;
  let database: string;
  let front: RoundRobin;
  let supergraph: RunningSupergraph;
  const processes: ServiceProcess[] = [];
  const ids: Record<string, number> = {};
  let env: Record<string, string>;

  async function start(role: ServiceProcess['role']): Promise<ServiceProcess> {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/index.ts', role], {
      cwd: ROOT,
      env: { ...process.env, ...env, ...(role === 'worker' ? { WORKER_PORT: String(port) } : { PORT: String(port) }) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const service: ServiceProcess = { role, child, batches: 0, port };
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`${role} exited (${code}) before it was ready`)));
      createInterface({ input: child.stdout }).on('line', (text) => {
        if (!text.startsWith('{')) return;
        const line = JSON.parse(text) as { msg?: string };
        if (line.msg === 'workers started' || line.msg === 'subgraph ready') resolve();
        if (line.msg === 'changes evaluated') service.batches++;
      });
    });
    processes.push(service);
    return service;
  }

  /** A counter's value on a worker's /metrics. */
  const metric = async (worker: ServiceProcess, name: string) => {
    const text = await (await fetch(`http://127.0.0.1:${worker.port}/metrics`)).text();
    return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 'NaN');
  };
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
  const count = async (table: string) => (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]!.n;
  /** Each rule segment's members by its rule's set-based SQL, now. */
  async function expected(): Promise<Map<string, number[]>> {
    const byCustomer = new Map<string, number[]>();
    for (const [name, rule] of Object.entries(RULES)) {
      const query = compileMembersQuery(rule, { asOf: new Date() });
      const { rows } = await pool.query<{ customer_id: string }>(`SELECT customer_id FROM (${query.text}) m`, query.values);
      expect(rows.length, name).toBeGreaterThan(10);
      for (const { customer_id } of rows) byCustomer.set(customer_id, [...(byCustomer.get(customer_id) ?? []), ids[name]!]);
    }
    return byCustomer;
  }
  /** Every customer's segments as the supergraph serves them. */
  async function served(): Promise<{ segments: Map<string, number[]>; sources: Set<string> }> {
    const result = await execute(supergraph.url, EVERYONE);
    expect(result.errors).toBeUndefined();
    const customers = result.data!.customers as Array<{ id: string; segments: Array<{ id: string }>; segmentsFreshness: { source: string } }>;
    expect(customers).toHaveLength(CUSTOMERS);
    return {
      segments: new Map(customers.filter((c) => c.segments.length > 0).map((c) => [c.id, c.segments.map((s) => Number(s.id)).sort((a, b) => a - b)])),
      sources: new Set(customers.map((c) => c.segmentsFreshness.source)),
    };
  }
  const sorted = (map: Map<string, number[]>) => new Map([...map].map(([id, segments]) => [id, [...segments].sort((a, b) => a - b)] as const).sort(([a], [b]) => a.localeCompare(b)));

  beforeAll(async () => {
    cluster = await startRedisCluster(3);
    postgres = await startPrimaryWithReplica();
    const namespace = createTestNamespace(postgres.primaryUrl);
    database = new URL(namespace.databaseUrl).pathname.slice(1);
    // The deployment's migration step, before any process starts.
    await prepareDatabase(namespace.databaseUrl, { orderOutboxTrigger: true });
    pool = createPool(namespace.databaseUrl, { applicationName: 'many-processes-test' });
    await seedOrderHistory(pool, { customers: CUSTOMERS, orders: 10_000, stores: 5 });
    // Written as a rule change commits them: the workers find them never computed and compute them.
    for (const [name, rule] of Object.entries(RULES)) ids[name] = await insertRuleSegment({ pool }, rule, name);
    env = {
      DATABASE_URL: namespace.databaseUrl,
      DATABASE_REPLICA_URL: `${postgres.replicaUrl}/${database}`,
      REDIS_CLUSTER_NODES: cluster.nodes.map((node) => `${node.host}:${node.port}`).join(','),
      REDIS_PREFIX: namespace.redisPrefix,
      JWT_SECRET: TEST_AUTH.secret!,
      JWT_ISSUER: TEST_AUTH.issuer!,
      JWT_AUDIENCE: TEST_AUTH.audience!,
      LOG_LEVEL: 'debug',
      WORKER_LOCK_DURATION_MS: '5000',
      SERVING_BREAKER_RESET_MS: '1000',
      // Pages of 2,000 customers on a machine running five services: the test is about answers, not speed.
      SERVING_REDIS_TIMEOUT_MS: '2000',
      GRAPHQL_MAX_REPRESENTATIONS: '5000',
      GRAPHQL_MAX_MEMBERSHIP_COST: '100000',
    };
    await Promise.all([start('worker'), start('worker'), start('worker'), start('subgraph'), start('subgraph')]);
    front = await startRoundRobin(processes.filter((p) => p.role === 'subgraph').map((p) => `http://127.0.0.1:${p.port}/`));
    const { rows } = await pool.query<{ id: string }>('SELECT id FROM customers');
    supergraph = await startSupergraph(front.url, Object.fromEntries(rows.map(({ id }) => [id, `Customer ${id}`])));
  }, 180_000);

  afterAll(async () => {
    await Promise.all(cluster?.relays.map((relay) => relay.restore()) ?? []);
    await supergraph?.stop();
    await front?.close();
    await Promise.all(
      processes.map(async ({ child }) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(timer);
      }),
    );
    await pool?.end();
    await postgres?.stop();
    await cluster?.stop();
  }, 60_000);

  it('computes the segments, and keeps them exact through a storm of order writes with a worker killed mid-storm', async () => {
    await expect.poll(() => count('segments WHERE last_computed_at IS NULL'), { timeout: 60_000, interval: 250 }).toBe(0);

    const victim = processes.find((p) => p.role === 'worker')!;
    let orderNumber = 0;
    for (let i = 0; i < 600; i++) {
      const customer = `cust-${String(((i * 7919) % CUSTOMERS) + 1).padStart(8, '0')}`;
      await pool.query(`INSERT INTO orders (id, customer_id, store_id, total_cents) VALUES ($1, $2, $3, $4)`, [
        `storm-${++orderNumber}`,
        customer,
        `store-0000${(i % 4) + 1}`,
        1000 + (i % 7) * 900,
      ]);
      if (i % 5 === 4) await pool.query(`UPDATE orders SET store_id = 'store-00003', total_cents = total_cents + 4000 WHERE id = $1`, [`storm-${orderNumber - 2}`]);
      if (i % 7 === 6) await pool.query(`DELETE FROM orders WHERE id = (SELECT id FROM orders WHERE customer_id = $1 ORDER BY id LIMIT 1)`, [customer]);
      if (i === 300) {
        // Mid-storm, once it has evaluated some of it.
        await expect.poll(() => victim.batches, { timeout: 10_000, interval: 50 }).toBeGreaterThan(0);
        victim.child.kill('SIGKILL');
        await once(victim.child, 'exit');
      }
    }
    await expect
      .poll(async () => (await count('customer_change_outbox')) + (await count('membership_event_outbox')), { timeout: 60_000, interval: 250 })
      .toBe(0);

    const wanted = sorted(await expected());
    const { rows } = await pool.query<{ customer_id: string; segment_id: number }>('SELECT customer_id, segment_id FROM segment_memberships');
    const maintained = new Map<string, number[]>();
    for (const row of rows) maintained.set(row.customer_id, [...(maintained.get(row.customer_id) ?? []), row.segment_id]);
    expect(sorted(maintained)).toEqual(wanted);
    // Every membership the supergraph serves, through both subgraph processes, from the cluster.
    await expect.poll(async () => sorted((await served()).segments), { timeout: 10_000, interval: 250 }).toEqual(wanted);
    await expect.poll(async () => (await served()).sources, { timeout: 10_000, interval: 250 }).toEqual(new Set(['REDIS']));
    expect(front.served.every((n) => n > 0)).toBe(true);
    // Each worker, the killed one included, evaluated a share of the changes.
    expect(processes.filter((p) => p.role === 'worker').map((worker) => worker.batches > 0)).toEqual([true, true, true]);
    // The reconcilers compared every customer with memberships and found nothing to repair.
    const alive = processes.filter((p) => p.role === 'worker' && p !== victim);
    await expect.poll(async () => sum(await Promise.all(alive.map((w) => metric(w, 'segments_serving_reconciled_customers_total')))), { timeout: 20_000, interval: 250 }).toBeGreaterThanOrEqual(maintained.size);
    expect(await Promise.all(alive.map((w) => metric(w, 'segments_serving_drift_customers_total')))).toEqual([0, 0]);
  }, 180_000);

  it('finds a corrupted Redis field, counts it as drift, and repairs it', async () => {
    const wanted = sorted(await expected());
    const alive = processes.filter((p) => p.role === 'worker' && p.child.exitCode === null && p.child.signalCode === null);
    const redis = createRedis({ clusterNodes: cluster.nodes }, { connectionName: 'test-corruption', logger: createLogger('silent') });
    const keys = redisKeys(env.REDIS_PREFIX!, 'cluster');
    try {
      const [first, second] = [...wanted.keys()];
      await redis.hset(keys.customer(first!), '999999', '1');
      await redis.hdel(keys.customer(second!), String(wanted.get(second!)![0]));
      await expect.poll(async () => sum(await Promise.all(alive.map((w) => metric(w, 'segments_serving_drift_customers_total')))), { timeout: 20_000, interval: 250 }).toBe(2);
      expect(sorted((await served()).segments)).toEqual(wanted);
    } finally {
      await closeRedis(redis);
    }
  }, 60_000);

  it('serves the same memberships from the replica while the cluster is black-holed', async () => {
    const wanted = sorted(await expected());
    const fetchedOnReplica = async () => {
      const replica = createPool(`${postgres.replicaUrl}/${database}`, { max: 1 });
      try {
        return (await replica.query<{ n: string }>('SELECT tup_fetched::text AS n FROM pg_stat_database WHERE datname = current_database()')).rows[0]!.n;
      } finally {
        await replica.end();
      }
    };
    const before = Number(await fetchedOnReplica());
    for (const relay of cluster.relays) relay.stall();

    await expect.poll(async () => (await served()).sources, { timeout: 10_000, interval: 250 }).toEqual(new Set(['POSTGRES']));
    expect(sorted((await served()).segments)).toEqual(wanted);
    // The reads were the replica's: it fetched at least every membership served.
    const memberships = [...wanted.values()].reduce((sum, segments) => sum + segments.length, 0);
    await expect.poll(async () => Number(await fetchedOnReplica()) - before, { timeout: 5_000, interval: 250 }).toBeGreaterThanOrEqual(memberships);
  }, 60_000);
});
