import type { Redis } from 'ioredis';
import type pg from 'pg';
import { DEFAULT_SERVING, type Config } from '../config.js';
import type { Logger } from '../logger.js';
import { migrationsDir } from '../paths.js';
import { MembershipRepository } from './postgres/membership-repository.js';
import { migrate } from './postgres/migrator.js';
import { createPool, ensureDatabase } from './postgres/pool.js';
import { SegmentComputationRepository } from './postgres/segment-computation-repository.js';
import { SegmentRepository } from './postgres/segment-repository.js';
import { ChangeOutboxRepository } from './postgres/change-outbox-repository.js';
import { MembershipEventStream } from './redis/membership-event-stream.js';
import { closeRedis, createRedis } from './redis/client.js';
import { redisKeys, type RedisKeys } from './redis/keys.js';
import { SegmentChangeChannel } from './redis/segment-change-channel.js';
import { MembershipServingStore } from './redis/serving-store.js';
import { SegmentCatalog } from './segment-catalog.js';
import { MembershipReader } from './membership-reader.js';

/** Every store adapter of one process, over one Postgres pool and two Redis connections. */
export interface Stores {
  pool: pg.Pool;
  redis: Redis;
  keys: RedisKeys;
  segments: SegmentRepository;
  memberships: MembershipRepository;
  computations: SegmentComputationRepository;
  changeOutbox: ChangeOutboxRepository;
  servingStore: MembershipServingStore;
  /** The serving path's membership reads: Redis on a connection of their own, Postgres as the fallback. */
  membershipReader: MembershipReader;
  eventStream: MembershipEventStream;
  segmentChanges: SegmentChangeChannel;
  catalog: SegmentCatalog;
  /** Resolves when Postgres and Redis both answer. */
  checkReadiness(): Promise<void>;
  close(): Promise<void>;
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
  config: Pick<Config, 'databaseUrl' | 'redisUrl' | 'redisPrefix'> & Partial<Pick<Config, 'serving'>>,
  logger: Logger,
): Promise<Stores> {
  const serving = config.serving ?? DEFAULT_SERVING;
  await ensureDatabase(config.databaseUrl);
  const pool = createPool(config.databaseUrl, { onError: (error) => logger.error({ err: error }, 'postgres idle connection error') });
  await migrate(pool, migrationsDir);

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
    lazyConnect: true,
  });
  const subscriber = createRedis(config.redisUrl, { connectionName: 'segments-catalog-subscriber', logger });

  const segments = new SegmentRepository(pool);
  const memberships = new MembershipRepository(pool);
  const membershipReader = new MembershipReader(new MembershipServingStore(servingRedis, keys), memberships, serving, logger);
  const segmentChanges = new SegmentChangeChannel(redis, keys);
  const catalog = new SegmentCatalog(segments);
  const unsubscribe = await segmentChanges.subscribe(
    subscriber,
    (ids) => catalog.invalidate(ids),
    () => catalog.clear(),
  );

  return {
    pool,
    redis,
    keys,
    segments,
    memberships,
    computations: new SegmentComputationRepository(pool),
    changeOutbox: new ChangeOutboxRepository(pool),
    servingStore: new MembershipServingStore(bulkRedis, keys),
    membershipReader,
    eventStream: new MembershipEventStream(bulkRedis, keys),
    segmentChanges,
    catalog,
    async checkReadiness() {
      await Promise.all([pool.query('SELECT 1'), redis.ping()]);
    },
    async close() {
      if (subscriber.status === 'ready') await unsubscribe().catch(() => undefined);
      membershipReader.close();
      await Promise.all([closeRedis(subscriber), closeRedis(redis), closeRedis(servingRedis), closeRedis(bulkRedis)]);
      await pool.end();
    },
  };
}
