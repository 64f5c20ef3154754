import type { Logger } from '../platform/logger.js';
import type { StoreClients } from '../platform/store-clients.js';
import { MembershipRepository } from '../stores/postgres/membership-repository.js';
import { SegmentRepository } from '../stores/postgres/segment-repository.js';
import { SegmentChangeChannel } from '../stores/redis/segment-change-channel.js';
import { MembershipServingStore } from '../stores/redis/serving-store.js';
import { MembershipReader } from './membership-reader.js';
import { SegmentCatalog } from './segment-catalog.js';
import { DEFAULT_SERVING } from './serving-config.js';

/** The read path of the subgraph role. Its Postgres fallback reads the replica while it is in use (`replicaReads`). */
export interface Serving {
  /** Live segments' names and statuses in process, invalidated by change announcements. */
  catalog: SegmentCatalog;
  /** Membership reads: Redis on a connection of their own, Postgres as the fallback. */
  membershipReader: MembershipReader;
}

/**
 * Builds the read path over the process's clients and subscribes the catalog
 * to change announcements; closing the clients unsubscribes it. The catalog
 * reads through `segments` when given (one repository shared with others in
 * the process), else a repository of its own on the general pool.
 */
export async function openServing(clients: StoreClients, logger: Logger, segments: SegmentRepository = new SegmentRepository(clients.pool)): Promise<Serving> {
  const serving = clients.settings.serving ?? DEFAULT_SERVING;
  const membershipReader = new MembershipReader(new MembershipServingStore(clients.servingRedis(), clients.keys), new MembershipRepository(clients.replicaReads(clients.pool)), serving, logger);
  const catalog = new SegmentCatalog(segments, { ttlMs: serving.segmentCacheTtlMs });
  const subscriber = clients.subscriber();
  const unsubscribe = await new SegmentChangeChannel(clients.redis, clients.keys).subscribe(
    subscriber,
    (ids) => catalog.invalidate(ids),
    () => catalog.clear(),
  );
  clients.onClose(async () => {
    if (subscriber.status === 'ready') await unsubscribe();
    membershipReader.close();
  });
  return { catalog, membershipReader };
}
