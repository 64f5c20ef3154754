import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/platform/logger.js';
import { setHealthGaugeSources, trackQueues } from '../../src/platform/metrics/health-gauges.js';
import { createMaintenanceQueue } from '../../src/jobs/maintenance-queue.js';
import { bullConnection } from '../../src/stores/redis/bull-connection.js';
import { createOpsServer, type OpsServer } from '../../src/http/ops-server.js';
import { createTestStores as createStoresThroughRelay } from '../helpers/test-environment.js';
import { seedOrderHistory } from '../../src/stores/postgres/order-history-seed.js';
import { PipelineHealthRepository } from '../../src/stores/postgres/pipeline-health-repository.js';
import type { RunningWorkers } from '../../workers/index.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { startSupergraph, type RunningSupergraph } from '../helpers/supergraph.js';
import { startTcpRelay, type TcpRelay } from '../helpers/tcp-relay.js';
import { REDIS_TARGET, TEST_REDIS_URL, type TestStores } from '../helpers/test-environment.js';
import { adminToken } from '../helpers/tokens.js';
import { startTestWorkers } from '../helpers/workers.js';
import { serviceMetricNames } from '../helpers/metric-names.js';

const BROKEN_RULE = { all: [{ orderCount: { op: 'GTE', value: 1 } }, { attribute: { field: 'createdAt', op: 'GT', value: '2026-02-30T00:00:00Z' } }] };

/** One sample's value from Prometheus text: `name{labels}` exactly as written, 0 when absent. */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}
const scrape = async (base: string) => {
  const response = await fetch(new URL('/metrics', base));
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  return response.text();
};

describe('operations: metrics, worker listener and compute health', () => {
  let redisRelay: TcpRelay;
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let supergraph: RunningSupergraph;
  let workers: RunningWorkers | undefined;
  let ops: OpsServer;
  let opsUrl: string;
  let admin: string;

  beforeAll(async () => {
    redisRelay = await startTcpRelay(REDIS_TARGET);
    stores = await createStoresThroughRelay({ redisUrl: `redis://127.0.0.1:${redisRelay.port}` });
    await seedOrderHistory(stores.pool, { customers: 200, orders: 1000, stores: 4 });
    const pipelineHealth = new PipelineHealthRepository(stores.pool);
    setHealthGaugeSources({ backlogAges: () => pipelineHealth.backlogAges(), computeHealth: () => stores.segments.computeHealth(), logger: createLogger('silent') });
    subgraph = await startSubgraph(stores);
    supergraph = await startSupergraph(subgraph.url);
    // The workers' queues reach Redis directly: the refusal below is the stores' and one queue's.
    workers = await startTestWorkers(stores, { redis: { url: TEST_REDIS_URL }, reconcileEveryMs: 3_600_000 });
    ops = createOpsServer({ logger: createLogger('silent'), checkReadiness: () => stores.checkReadiness() });
    opsUrl = `http://127.0.0.1:${await ops.listen(0, '127.0.0.1')}/`;
    admin = await adminToken();
  }, 60_000);
  afterAll(async () => {
    await redisRelay?.restore();
    setHealthGaugeSources(undefined);
    await ops?.stop();
    await workers?.close();
    await supergraph?.stop();
    await subgraph?.stop();
    await stores?.dispose();
    await redisRelay?.close();
  });

  it('serves every metric on the subgraph and on the worker listener', async () => {
    for (const base of [subgraph.url, opsUrl]) {
      const text = await scrape(base);
      const names = [...(await serviceMetricNames()), 'segments_process_cpu_seconds_total'];
      expect(names.length).toBeGreaterThanOrEqual(19);
      for (const name of names) expect([base, name, text.includes(`# TYPE ${name} `)]).toEqual([base, name, true]);
    }
  });

  it('counts GraphQL operations by type and outcome', async () => {
    const series = 'segments_graphql_operations_total{operation_type="query",outcome="ok"}';
    const before = sample(await scrape(subgraph.url), series);
    const result = await execute(supergraph.url, `query { customer(id: "c-none") { segments { name } } }`);
    expect(result.errors).toBeUndefined();
    expect(sample(await scrape(subgraph.url), series)).toBeGreaterThan(before);
    expect(sample(await scrape(subgraph.url), 'segments_serving_reads_total{source="REDIS"}')).toBeGreaterThan(0);
  });

  it('counts membership changes by cause once they are served', async () => {
    const series = 'segments_membership_changes_total{change="ENTERED",cause="manual"}';
    const before = sample(await scrape(opsUrl), series);
    const created = await execute(subgraph.url, `mutation { createSegment(input: { name: "vip" }) { id } }`, {}, admin);
    const id = created.data!.createSegment.id as string;
    const added = await execute(subgraph.url, `mutation ($id: ID!) { addSegmentMembers(id: $id, customerIds: ["c-1", "c-2"]) { id } }`, { id }, admin);
    expect(added.errors).toBeUndefined();
    await expect.poll(async () => sample(await scrape(opsUrl), series), { timeout: 10_000 }).toBe(before + 2);
  });

  it('shows a segment whose compute fails as FAILED, with its error, and counts it', async () => {
    const { rows } = await stores.pool.query<{ id: number }>(
      `WITH s AS (INSERT INTO segments (name, kind, rule, refresh_every_minutes) VALUES ('legacy', 'RULE', $1, 60) RETURNING id)
       INSERT INTO segment_versions (segment_id, version, rule, created_by) SELECT id, 1, $1, 'legacy' FROM s RETURNING segment_id AS id`,
      [JSON.stringify(BROKEN_RULE)],
    );
    const broken = String(rows[0]!.id);
    const health = `query ($id: ID!) { segment(id: $id) { computeState lastComputeError stale } }`;
    expect((await execute(supergraph.url, health, { id: broken }, admin)).data!.segment).toMatchObject({ computeState: 'QUEUED', lastComputeError: null });

    await execute(subgraph.url, `mutation ($id: ID!) { recomputeSegment(id: $id) { id } }`, { id: broken }, admin);
    await expect.poll(async () => (await execute(supergraph.url, health, { id: broken }, admin)).data!.segment.computeState, { timeout: 15_000 }).toBe('FAILED');
    const segment = (await execute(supergraph.url, health, { id: broken }, admin)).data!.segment;
    expect(segment.lastComputeError).toMatch(/could not be evaluated/);
    expect(segment.stale).toBe(false);
    expect(sample(await scrape(subgraph.url), 'segments_failed_segments')).toBe(1);
    expect(sample(await scrape(opsUrl), 'segments_job_duration_seconds_count{queue="segment-recompute",job="recompute-segment",outcome="failed"}')).toBeGreaterThan(0);
    // Operational state is for admins: an anonymous caller is refused it.
    expect((await execute(supergraph.url, health, { id: broken })).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    await stores.pool.query('UPDATE segments SET status = $2 WHERE id = $1', [broken, 'ARCHIVED']);
  });

  it('shows a segment not computed within twice its refresh period as stale, lists it and counts it', async () => {
    const created = await execute(
      subgraph.url,
      `mutation ($input: CreateSegmentInput!) { createSegment(input: $input) { id } }`,
      { input: { name: 'buyers', rule: { orderCount: { op: 'GTE', value: 1 } }, refreshEveryMinutes: 30 } },
      admin,
    );
    const id = created.data!.createSegment.id as string;
    const list = `query ($stale: Boolean) { segments(stale: $stale, first: 100) { totalCount edges { node { id stale computeState } } } }`;
    await expect.poll(async () => (await execute(supergraph.url, list, { stale: false }, admin)).data!.segments.edges.find((e: any) => e.node.id === id)?.node.computeState, { timeout: 15_000 }).toBe('IDLE');
    expect((await execute(supergraph.url, list, { stale: true }, admin)).data!.segments).toEqual({ totalCount: 0, edges: [] });

    // Last computed 61 minutes ago, with a 30-minute period.
    await stores.pool.query(`UPDATE segments SET last_computed_at = now() - interval '61 minutes', rule_changed_at = now() - interval '2 hours' WHERE id = $1`, [id]);
    const stale = (await execute(supergraph.url, list, { stale: true }, admin)).data!.segments;
    expect(stale).toEqual({ totalCount: 1, edges: [{ node: { id, stale: true, computeState: 'IDLE' } }] });
    expect((await execute(supergraph.url, list, { stale: false }, admin)).data!.segments.edges.map((e: any) => e.node.id)).not.toContain(id);
    expect(sample(await scrape(subgraph.url), 'segments_stale_segments')).toBe(1);
  });

  it('answers the worker health checks, and says ready is not while Redis is away', async () => {
    // A queue whose connection goes through the refused relay: BullMQ waits for Redis, the scrape must not.
    const queue = createMaintenanceQueue(bullConnection({ url: `redis://127.0.0.1:${redisRelay.port}` }, 'test-gauge'), { bullPrefix: () => `${stores.keys.prefix}gauge` });
    queue.on('error', () => undefined);
    const untrack = trackQueues([{ name: 'through-relay', getJobCounts: (...states) => queue.getJobCounts(...(states as Parameters<typeof queue.getJobCounts>)) }]);
    expect((await fetch(new URL('/health/ready', opsUrl))).status).toBe(200);
    await redisRelay.refuse();
    try {
      const ready = await fetch(new URL('/health/ready', opsUrl));
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ status: 'unavailable', checks: { postgres: 'ok', redis: 'failed' } });
      expect((await fetch(new URL('/health/live', opsUrl))).status).toBe(200);
      // A scrape does not fail, nor wait past a scrape timeout, for the queue gauge it cannot read.
      const scrape = await fetch(new URL('/metrics', opsUrl));
      expect(scrape.status).toBe(200);
      expect(await scrape.text()).not.toContain('queue="through-relay"');
    } finally {
      untrack();
      await redisRelay.restore();
      await queue.close();
    }
  });
});
