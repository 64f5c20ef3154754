import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';
import type { ClusterNode, RedisClient, RedisTarget } from '../../src/stores/redis/client.js';
import { DEFAULT_SERVING, type ServingConfig } from '../../src/platform/config.js';
import type { PreviewPoolConfig } from '../../src/platform/preview-pool-config.js';
import { createLogger } from '../../src/platform/logger.js';
import { apiStores, type ApiStores } from '../../src/graphql/api-dependencies.js';
import { workerStores, type WorkerStores } from '../../src/pipeline/worker-stores.js';
import { prepareDatabase } from '../../src/platform/prepare-database.js';
import type { ReadinessReport } from '../../src/platform/readiness.js';
import { openStoreClients } from '../../src/platform/store-clients.js';
import type { ReadReplica } from '../../src/platform/read-replica.js';
import { openServing, type Serving } from '../../src/serving/open-serving.js';
import { MembershipHistoryRepository } from '../../src/stores/postgres/membership-history-repository.js';

/** Where tests find the servers; CI and developer machines run them locally. */
export const TEST_POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Host and port of the test servers, for a TCP relay put in front of them. */
export const REDIS_TARGET = hostAndPort(TEST_REDIS_URL, 6379);
export const POSTGRES_TARGET = hostAndPort(TEST_POSTGRES_URL, 5432);

function hostAndPort(url: string, defaultPort: number): { host: string; port: number } {
  const { hostname, port } = new URL(url);
  return { host: hostname, port: port ? Number(port) : defaultPort };
}

export interface TestNamespace {
  /** A database of its own: `segments_test_<id>`. */
  databaseUrl: string;
  /** A Redis key prefix of its own: `test:<id>:`. */
  redisPrefix: string;
  /** Drops the database and deletes every key under the prefix. */
  cleanup(): Promise<void>;
}

/**
 * A database and Redis prefix for one test file, so files run in parallel on
 * the shared servers and leave nothing behind.
 */
export function createTestNamespace(postgresUrl = TEST_POSTGRES_URL): TestNamespace {
  const id = randomUUID().replaceAll('-', '').slice(0, 16);
  const database = `segments_test_${id}`;
  const redisPrefix = `test:${id}:`;
  return {
    databaseUrl: `${postgresUrl}/${database}`,
    redisPrefix,
    async cleanup() {
      const admin = new pg.Client({ connectionString: `${postgresUrl}/postgres` });
      await admin.connect();
      try {
        await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`);
      } finally {
        await admin.end();
      }
      await deleteKeys(`${redisPrefix}*`);
    },
  };
}

async function deleteKeys(pattern: string): Promise<void> {
  const redis = new Redis(TEST_REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/**
 * Every store of both roles over one set of clients, as role `all` has them,
 * so a test reaches whichever it checks.
 */
export interface Stores extends WorkerStores, Serving, ApiStores {
  redis: RedisClient;
  /** The Redis the stores use, for the workers and queues of the same test. */
  redisTarget: RedisTarget;
  previewPool: pg.Pool;
  membershipHistory: MembershipHistoryRepository;
  checkReadiness(): Promise<ReadinessReport>;
  /** The replica the lagging reads go to, when the stores have one. */
  readReplica(): ReadReplica | null;
  close(): Promise<void>;
}

export interface TestStores extends Stores {
  namespace: TestNamespace;
  /** Closes the stores and removes the namespace. */
  dispose(): Promise<void>;
}

export interface TestStoreOptions {
  redisUrl?: string;
  /** A Redis Cluster's seed nodes (`startRedisCluster`): replaces `redisUrl`, and keys take the cluster layout. */
  redisCluster?: readonly ClusterNode[];
  /** The Postgres server (no database): the namespace's database is created there. */
  postgresUrl?: string;
  /** The server previews connect to (a relay in front of `postgresUrl`), same database. @defaultValue postgresUrl */
  previewPostgresUrl?: string;
  previewPool?: PreviewPoolConfig;
  servingBuilt?: boolean;
  serving?: Partial<ServingConfig>;
  apiStatementTimeoutMs?: number;
  /** A streaming replica of `postgresUrl` (no database), for the reads that may lag. */
  replicaUrl?: string;
  replicaMaxLagMs?: number;
}

/**
 * Real stores (migrated database, Redis) in a namespace of their own. An
 * empty database's serving store is complete, so it is marked built unless
 * `servingBuilt: false` asks for the state of a Redis that lost its keys.
 */
export async function createTestStores(options: TestStoreOptions = {}): Promise<TestStores> {
  const namespace = createTestNamespace(options.postgresUrl);
  const database = new URL(namespace.databaseUrl).pathname;
  await prepareDatabase(namespace.databaseUrl);
  const redisTarget: RedisTarget = options.redisCluster ? { clusterNodes: options.redisCluster } : { url: options.redisUrl ?? TEST_REDIS_URL };
  const clients = openStoreClients({
    databaseUrl: namespace.databaseUrl,
    redis: redisTarget,
    redisPrefix: namespace.redisPrefix,
    serving: { ...DEFAULT_SERVING, ...options.serving },
    ...(options.previewPool ? { previewPool: options.previewPool } : {}),
    ...(options.previewPostgresUrl ? { previewDatabaseUrl: `${options.previewPostgresUrl}${database}` } : {}),
    ...(options.apiStatementTimeoutMs ? { apiStatementTimeoutMs: options.apiStatementTimeoutMs } : {}),
    ...(options.replicaUrl
      ? { replica: { databaseUrl: `${options.replicaUrl}${database}`, ...(options.replicaMaxLagMs ? { maxLagMs: options.replicaMaxLagMs } : {}) } }
      : {}),
  }, createLogger('silent'));
  // One segment repository for the worker's stores and the catalog, as role `all` has had.
  const worker = workerStores(clients);
  const serving = await openServing(clients, createLogger('silent'), worker.segments);
  const stores: Stores = {
    ...worker,
    ...apiStores(clients, serving),
    ...serving,
    redis: clients.redis,
    redisTarget,
    previewPool: clients.previewPool(),
    membershipHistory: new MembershipHistoryRepository(clients.pool),
    checkReadiness: () => clients.checkReadiness(),
    readReplica: () => clients.readReplica(),
    close: () => clients.close(),
  };
  if (options.servingBuilt ?? true) await stores.servingStore.markBuilt();
  return Object.assign(stores, {
    namespace,
    async dispose() {
      await stores.close();
      await namespace.cleanup();
    },
  });
}
