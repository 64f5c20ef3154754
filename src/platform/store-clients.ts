import type pg from 'pg';
import type { Logger } from './logger.js';
import { createPool } from '../stores/postgres/pool.js';
import { previewPoolOptions } from '../stores/postgres/rule-preview-repository.js';
import { closeRedis, createRedis, isClusterTarget, type RedisClient, type RedisTarget } from '../stores/redis/client.js';
import { redisKeys, type RedisKeys } from '../stores/redis/keys.js';
import { DEFAULT_SERVING, type ServingConfig } from '../serving/serving-config.js';
import { runReadinessChecks, type ReadinessReport } from './readiness.js';
import { DEFAULT_PREVIEW_POOL, type PreviewPoolConfig } from './preview-pool-config.js';
import { ReadReplica, type ReadPool } from './read-replica.js';

/** Where the stores live; the entry points fill it from the config module. */
export interface StoreSettings {
  databaseUrl: string;
  /** One Redis server or a Redis Cluster; the key layout follows it (`redisKeys`). */
  redis: RedisTarget;
  /** Prefix of every Redis key this deployment writes. */
  redisPrefix: string;
  /** @defaultValue DEFAULT_SERVING */
  serving?: ServingConfig;
  /** Age after which membership-events stream entries are trimmed, in ms. @defaultValue DEFAULT_STREAM_RETENTION_MS */
  membershipStreamRetentionMs?: number;
  /** @defaultValue DEFAULT_PREVIEW_POOL */
  previewPool?: PreviewPoolConfig;
  /** Where previews connect, for a replica or (in tests) a relay. @defaultValue databaseUrl */
  previewDatabaseUrl?: string;
  /** Statement timeout of the API's pool, in ms. @defaultValue 30000 */
  apiStatementTimeoutMs?: number;
  /** Connections the member import may hold at once (imports beyond wait for one). @defaultValue 2 */
  importConnections?: number;
  /** A streaming replica for reads that may lag a little (`ReadReplica`); unset, they go to the primary. */
  replica?: { databaseUrl: string; maxLagMs?: number; statementTimeoutMs?: number };
}

/**
 * The connections of one process. The general pool and Redis connection
 * exist in every role (health, announcements); the others are made on first
 * use, so a role that never asks for one never has it: a worker has no API
 * pool, a subgraph no publication connection.
 */
export interface StoreClients {
  readonly settings: StoreSettings;
  /** The general pool, without a statement timeout: the workers' long statements run on it. */
  readonly pool: pg.Pool;
  /** The general Redis connection: announcements, health, small commands. */
  readonly redis: RedisClient;
  readonly keys: RedisKeys;
  /** The API's pool (admin changes, lists, history, explain), with `apiStatementTimeoutMs`. */
  apiPool(): pg.Pool;
  /** The member import's pool: an upload holds a connection for its whole length, never one of the API's. */
  importPool(): pg.Pool;
  /** The preview pool: its own connections, size and timeouts (PreviewPoolConfig). */
  previewPool(): pg.Pool;
  /**
   * Reads that may lag a little (the serving fallback, explain, history):
   * on the replica while it is in use, else on `primary`. Without a replica,
   * `primary` itself.
   */
  replicaReads(primary: ReadPool): ReadPool;
  /** Previews: on the replica's preview pool while it is in use, else on `previewPool()`. */
  previewReads(): ReadPool;
  /** The replica and its lag; null without one. */
  readReplica(): ReadReplica | null;
  /** Membership reads' own Redis connection, so that nothing else queues ahead of them. */
  servingRedis(): RedisClient;
  /** Publication's and rebuilds' Redis connection: pipelines of thousands of commands. */
  bulkRedis(): RedisClient;
  /** A connection for pub/sub subscriptions (a subscribed connection takes no other command). */
  subscriber(): RedisClient;
  /** Whether Postgres and Redis each answer (within READINESS_CHECK_TIMEOUT_MS); never rejects. */
  checkReadiness(): Promise<ReadinessReport>;
  /** Runs `step` first when closing (an unsubscribe), then closes every connection made. */
  onClose(step: () => Promise<void>): void;
  close(): Promise<void>;
}

// Commands of the general connection (announcements, health) that Redis has
// not answered by then fail instead of piling up.
const COMMAND_TIMEOUT_MS = 1000;
// Publication and rebuilds send pipelines of thousands of commands from a
// worker whose event loop may be busy compiling an evaluation for a while:
// a timer of a second fired before their replies were read, and every such
// batch was published again.
const BULK_COMMAND_TIMEOUT_MS = 30_000;

/** Opens the general pool and Redis connection; the others wait for their first use. */
export function openStoreClients(settings: StoreSettings, logger: Logger): StoreClients {
  const serving = settings.serving ?? DEFAULT_SERVING;
  const pools: pg.Pool[] = [];
  const connections: RedisClient[] = [];
  const closeSteps: Array<() => Promise<void>> = [];
  // Every pool and connection made is closed by close().
  const pool = (made: pg.Pool) => (pools.push(made), made);
  const connection = (made: RedisClient) => (connections.push(made), made);
  const once = <T>(make: () => T): (() => T) => {
    let made: T | undefined;
    return () => (made ??= make());
  };

  const replicaSettings = settings.replica;
  const readReplica = once(() => {
    if (!replicaSettings) return null;
    const replica = new ReadReplica(
      pool(
        createPool(replicaSettings.databaseUrl, {
          applicationName: 'segments-replica-reads',
          statementTimeoutMs: replicaSettings.statementTimeoutMs ?? 5000,
          onError: (error) => logger.error({ err: error }, 'postgres idle replica connection error'),
        }),
      ),
      logger,
      replicaSettings.maxLagMs === undefined ? {} : { maxLagMs: replicaSettings.maxLagMs },
    );
    closeSteps.push(() => Promise.resolve(replica.close()));
    return replica;
  });
  const previewPool = once(() =>
    pool(
      createPool(settings.previewDatabaseUrl ?? settings.databaseUrl, {
        ...previewPoolOptions(settings.previewPool ?? DEFAULT_PREVIEW_POOL),
        onError: (error) => logger.error({ err: error }, 'postgres idle preview connection error'),
      }),
    ),
  );
  const replicaPreviewPool = once(() =>
    pool(
      createPool(replicaSettings!.databaseUrl, {
        ...previewPoolOptions(settings.previewPool ?? DEFAULT_PREVIEW_POOL),
        applicationName: 'segments-replica-previews',
        onError: (error) => logger.error({ err: error }, 'postgres idle replica preview connection error'),
      }),
    ),
  );
  const general = pool(createPool(settings.databaseUrl, { onError: (error) => logger.error({ err: error }, 'postgres idle connection error') }));
  const redis = connection(createRedis(settings.redis, { connectionName: 'segments', logger, commandTimeoutMs: COMMAND_TIMEOUT_MS }));
  return {
    settings,
    pool: general,
    redis,
    keys: redisKeys(settings.redisPrefix, isClusterTarget(settings.redis) ? 'cluster' : 'single'),
    apiPool: once(() =>
      pool(
        createPool(settings.databaseUrl, {
          applicationName: 'segments-api',
          statementTimeoutMs: settings.apiStatementTimeoutMs ?? 30_000,
          onError: (error) => logger.error({ err: error }, 'postgres idle api connection error'),
        }),
      ),
    ),
    importPool: once(() =>
      pool(
        createPool(settings.databaseUrl, {
          max: settings.importConnections ?? 2,
          applicationName: 'segments-member-import',
          onError: (error) => logger.error({ err: error }, 'postgres idle import connection error'),
        }),
      ),
    ),
    // Previews get connections of their own, with a statement timeout; the pool opens none until a preview runs.
    previewPool,
    replicaReads: (primary) => readReplica()?.route(primary) ?? primary,
    previewReads: () => readReplica()?.route(previewPool(), replicaPreviewPool()) ?? previewPool(),
    readReplica,
    // It connects on the first read. The breaker gives up on a read long
    // before this timeout, which only bounds what a stall leaves pending.
    servingRedis: once(() =>
      connection(
        createRedis(settings.redis, {
          connectionName: 'segments-serving-reads',
          logger,
          commandTimeoutMs: Math.max(COMMAND_TIMEOUT_MS, serving.redisTimeoutMs),
          lazyConnect: true,
        }),
      ),
    ),
    bulkRedis: once(() =>
      connection(
        createRedis(settings.redis, {
          connectionName: 'segments-publication',
          logger,
          commandTimeoutMs: BULK_COMMAND_TIMEOUT_MS,
          // Replies stream back as each command of a pipeline completes: ten seconds without one is a dead connection.
          stallMs: 10_000,
          lazyConnect: true,
        }),
      ),
    ),
    subscriber: once(() => connection(createRedis(settings.redis, { connectionName: 'segments-catalog-subscriber', logger }))),
    checkReadiness() {
      return runReadinessChecks({ postgres: () => general.query('SELECT 1'), redis: () => redis.ping() });
    },
    onClose(step) {
      closeSteps.push(step);
    },
    async close() {
      for (const step of closeSteps) await step().catch(() => undefined);
      await Promise.all(connections.map((made) => closeRedis(made)));
      await Promise.all(pools.map((made) => made.end()));
    },
  };
}
