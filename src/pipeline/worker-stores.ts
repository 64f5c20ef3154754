import type pg from 'pg';
import type { StoreClients } from '../platform/store-clients.js';
import { ChangeOutboxRepository } from '../stores/postgres/change-outbox-repository.js';
import { MembershipRepository } from '../stores/postgres/membership-repository.js';
import { SegmentOutboxRepository } from '../stores/postgres/segment-outbox-repository.js';
import { SegmentRepository } from '../stores/postgres/segment-repository.js';
import type { RedisKeys } from '../stores/redis/keys.js';
import { MembershipEventStream } from '../stores/redis/membership-event-stream.js';
import { SegmentChangeChannel } from '../stores/redis/segment-change-channel.js';
import { MembershipServingStore } from '../stores/redis/serving-store.js';
import { SegmentComputationRepository } from '../stores/postgres/segment-computation-repository.js';
import { SegmentRecompute } from './segment-recompute.js';

/** What the worker role runs on, and nothing else: no API pool, no serving reads, no catalog. */
export interface WorkerStores {
  /** The general pool, without a statement timeout: recomputes are long. */
  pool: pg.Pool;
  keys: RedisKeys;
  segments: SegmentRepository;
  memberships: MembershipRepository;
  computations: SegmentComputationRepository;
  /** The full-recompute protocol over `computations`. */
  recompute: SegmentRecompute;
  changeOutbox: ChangeOutboxRepository;
  /** Side effects of admin changes, carried out by the relay. */
  segmentOutbox: SegmentOutboxRepository;
  /** The serving keys, written on the publication connection. */
  servingStore: MembershipServingStore;
  eventStream: MembershipEventStream;
  segmentChanges: SegmentChangeChannel;
}

/** The worker role's stores, over the process's clients (publication gets the bulk connection). */
export function workerStores(clients: StoreClients): WorkerStores {
  const { pool, keys, settings } = clients;
  const computations = new SegmentComputationRepository(pool);
  return {
    pool,
    keys,
    segments: new SegmentRepository(pool),
    memberships: new MembershipRepository(pool),
    computations,
    recompute: new SegmentRecompute(pool, computations),
    changeOutbox: new ChangeOutboxRepository(pool),
    segmentOutbox: new SegmentOutboxRepository(pool),
    servingStore: new MembershipServingStore(clients.bulkRedis(), keys),
    eventStream: new MembershipEventStream(clients.bulkRedis(), keys, { retentionMs: settings.membershipStreamRetentionMs }),
    segmentChanges: new SegmentChangeChannel(clients.redis, keys),
  };
}
