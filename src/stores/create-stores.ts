import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Config } from '../config.js';
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
  eventStream: MembershipEventStream;
  segmentChanges: SegmentChangeChannel;
  catalog: SegmentCatalog;
  /** Resolves when Postgres and Redis both answer. */
  checkReadiness(): Promise<void>;
  close(): Promise<void>;
}

// A read that Redis has not answered by then fails the request instead of
// holding it: the serving path's budget is tens of milliseconds.
const SERVING_COMMAND_TIMEOUT_MS = 1000;

/**
 * Connects to Postgres and Redis, creates the database and applies migrations
 * when needed, and subscribes the segment catalog to change announcements.
 */
export async function createStores(
  config: Pick<Config, 'databaseUrl' | 'redisUrl' | 'redisPrefix'>,
  logger: Logger,
): Promise<Stores> {
  await ensureDatabase(config.databaseUrl);
  const pool = createPool(config.databaseUrl, { onError: (error) => logger.error({ err: error }, 'postgres idle connection error') });
  await migrate(pool, migrationsDir);

  const keys = redisKeys(config.redisPrefix);
  const redis = createRedis(config.redisUrl, {
    connectionName: 'segments-serving',
    logger,
    commandTimeoutMs: SERVING_COMMAND_TIMEOUT_MS,
  });
  const subscriber = createRedis(config.redisUrl, { connectionName: 'segments-catalog-subscriber', logger });

  const segments = new SegmentRepository(pool);
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
    memberships: new MembershipRepository(pool),
    computations: new SegmentComputationRepository(pool),
    changeOutbox: new ChangeOutboxRepository(pool),
    servingStore: new MembershipServingStore(redis, keys),
    eventStream: new MembershipEventStream(redis, keys),
    segmentChanges,
    catalog,
    async checkReadiness() {
      await Promise.all([pool.query('SELECT 1'), redis.ping()]);
    },
    async close() {
      if (subscriber.status === 'ready') await unsubscribe().catch(() => undefined);
      await Promise.all([closeRedis(subscriber), closeRedis(redis)]);
      await pool.end();
    },
  };
}
