import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Logger } from './logger.js';
import { migrationsDir } from './paths.js';
import { MembershipHistoryRepository } from '../stores/postgres/membership-history-repository.js';
import { MembershipRepository } from '../stores/postgres/membership-repository.js';
import { migrate } from '../stores/postgres/migrator.js';
import { createPool, ensureDatabase } from '../stores/postgres/pool.js';
import { previewPoolOptions, RulePreviewRepository } from '../stores/postgres/rule-preview-repository.js';
import { SegmentComputationRepository } from '../pipeline/segment-recompute.js';
import { SegmentOutboxRepository } from '../stores/postgres/segment-outbox-repository.js';
import { SegmentRepository } from '../stores/postgres/segment-repository.js';
import { ChangeOutboxRepository } from '../stores/postgres/change-outbox-repository.js';
import { MembershipEventStream } from '../stores/redis/membership-event-stream.js';
import { closeRedis, createRedis } from '../stores/redis/client.js';
import { redisKeys, type RedisKeys } from '../stores/redis/keys.js';
import { SegmentChangeChannel } from '../stores/redis/segment-change-channel.js';
import { MembershipServingStore } from '../stores/redis/serving-store.js';
import { SegmentCatalog } from '../serving/segment-catalog.js';
import { MembershipReader } from '../serving/membership-reader.js';
import { DEFAULT_SERVING, type ServingConfig } from '../serving/serving-config.js';
import { runReadinessChecks, type ReadinessReport } from './readiness.js';
import { DEFAULT_PREVIEW_POOL, type PreviewPoolConfig } from './preview-pool-config.js';

/**
 * Every store adapter of one process, over one Postgres pool (and the preview
 * pool, which connects only when a preview runs) and Redis connections.
 */
export interface Stores {
  pool: pg.Pool;
  /** The preview pool: its own connections, size and timeouts (PreviewPoolConfig); `rulePreviews` runs on it. */
  previewPool: pg.Pool;
  /**
   * The API's pool (admin changes, lists, history, explain): a statement
   * timeout (`apiStatementTimeoutMs`) bounds what one request can make
   * Postgres do. The workers' long statements (recomputes) run on `pool`.
   */
  apiPool: pg.Pool;
  /** The member import's pool: an upload holds a connection for its whole length, never one of the API's. */
  importPool: pg.Pool;
  redis: Redis;
  keys: RedisKeys;
  segments: SegmentRepository;
  memberships: MembershipRepository;
  computations: SegmentComputationRepository;
  changeOutbox: ChangeOutboxRepository;
  /** Side effects of admin changes, carried out by the workers. */
  segmentOutbox: SegmentOutboxRepository;
  /** Rule previews, on the preview pool: bounded, and never in the way of reads. */
  rulePreviews: RulePreviewRepository;
  servingStore: MembershipServingStore;
  /** The serving path's membership reads: Redis on a connection of their own, Postgres as the fallback. */
  membershipReader: MembershipReader;
  eventStream: MembershipEventStream;
  /** Reads of membership history (`Customer.segmentHistory`, `Segment.membershipChanges`, `Segment.sizeHistory`). */
  membershipHistory: MembershipHistoryRepository;
  segmentChanges: SegmentChangeChannel;
  catalog: SegmentCatalog;
  /** Whether Postgres and Redis each answer (within READINESS_CHECK_TIMEOUT_MS); never rejects. */
  checkReadiness(): Promise<ReadinessReport>;
  close(): Promise<void>;
}

/** Where the stores live; the entry points fill it from the config module. */
export interface StoreSettings {
  databaseUrl: string;
  redisUrl: string;
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
}

// Commands of the general connection (announcements, health) that Redis has
// not answered by then fail instead of piling up.
const COMMAND_TIMEOUT_MS = 1000;
// Publication and rebuilds send pipelines of thousands of commands from a
// worker whose event loop may be busy compiling an evaluation for a while: a
// timer of a second fired before their replies were read (seen at 1,000
// segments), and every such batch was published again.
const BULK_COMMAND_TIMEOUT_MS = 30_000;

/**
 * Connects to Postgres and Redis, creates the database and applies migrations
 * when needed, and subscribes the segment catalog to change announcements.
 */
export async function createStores(
  config: StoreSettings,
  logger: Logger,
): Promise<Stores> {
  const serving = config.serving ?? DEFAULT_SERVING;
  await ensureDatabase(config.databaseUrl);
  const pool = createPool(config.databaseUrl, { onError: (error) => logger.error({ err: error }, 'postgres idle connection error') });
  await migrate(pool, migrationsDir);
  // Previews get connections of their own, with a statement timeout: a pool
  // opens none until it is used, so worker processes never connect it.
  const previewLimits = config.previewPool ?? DEFAULT_PREVIEW_POOL;
  const previewPool = createPool(config.previewDatabaseUrl ?? config.databaseUrl, {
    ...previewPoolOptions(previewLimits),
    onError: (error) => logger.error({ err: error }, 'postgres idle preview connection error'),
  });

  // Both connect only when used: a worker process opens neither.
  const apiPool = createPool(config.databaseUrl, {
    applicationName: 'segments-api',
    statementTimeoutMs: config.apiStatementTimeoutMs ?? 30_000,
    onError: (error) => logger.error({ err: error }, 'postgres idle api connection error'),
  });
  const importPool = createPool(config.databaseUrl, {
    max: config.importConnections ?? 2,
    applicationName: 'segments-member-import',
    onError: (error) => logger.error({ err: error }, 'postgres idle import connection error'),
  });

  const keys = redisKeys(config.redisPrefix);
  const redis = createRedis(config.redisUrl, { connectionName: 'segments', logger, commandTimeoutMs: COMMAND_TIMEOUT_MS });
  // Membership reads get a connection of their own, so that publication or a
  // slow command elsewhere never queues ahead of them. It connects on the
  // first read: a worker process never opens it. The breaker gives up on a
  // read long before this timeout, which only bounds what a stall leaves pending.
  const servingRedis = createRedis(config.redisUrl, {
    connectionName: 'segments-serving-reads',
    logger,
    commandTimeoutMs: Math.max(COMMAND_TIMEOUT_MS, serving.redisTimeoutMs),
    lazyConnect: true,
  });
  // Connects on first use: only workers (and rebuilds) write the serving keys and the stream.
  const bulkRedis = createRedis(config.redisUrl, {
    connectionName: 'segments-publication',
    logger,
    commandTimeoutMs: BULK_COMMAND_TIMEOUT_MS,
    // Replies stream back as each command of a pipeline completes: ten seconds without one is a dead connection.
    stallMs: 10_000,
    lazyConnect: true,
  });
  const subscriber = createRedis(config.redisUrl, { connectionName: 'segments-catalog-subscriber', logger });

  const segments = new SegmentRepository(pool);
  const memberships = new MembershipRepository(pool);
  const membershipReader = new MembershipReader(new MembershipServingStore(servingRedis, keys), memberships, serving, logger);
  const segmentChanges = new SegmentChangeChannel(redis, keys);
  const catalog = new SegmentCatalog(segments, { ttlMs: serving.segmentCacheTtlMs });
  const unsubscribe = await segmentChanges.subscribe(
    subscriber,
    (ids) => catalog.invalidate(ids),
    () => catalog.clear(),
  );

  return {
    pool,
    previewPool,
    apiPool,
    importPool,
    redis,
    keys,
    segments,
    memberships,
    computations: new SegmentComputationRepository(pool),
    changeOutbox: new ChangeOutboxRepository(pool),
    segmentOutbox: new SegmentOutboxRepository(pool),
    rulePreviews: new RulePreviewRepository(previewPool, previewLimits),
    servingStore: new MembershipServingStore(bulkRedis, keys),
    membershipReader,
    eventStream: new MembershipEventStream(bulkRedis, keys, { retentionMs: config.membershipStreamRetentionMs }),
    membershipHistory: new MembershipHistoryRepository(pool),
    segmentChanges,
    catalog,
    checkReadiness() {
      return runReadinessChecks({ postgres: () => pool.query('SELECT 1'), redis: () => redis.ping() });
    },
    async close() {
      if (subscriber.status === 'ready') await unsubscribe().catch(() => undefined);
      membershipReader.close();
      await Promise.all([closeRedis(subscriber), closeRedis(redis), closeRedis(servingRedis), closeRedis(bulkRedis)]);
      await Promise.all([pool.end(), previewPool.end(), apiPool.end(), importPool.end()]);
    },
  };
}
