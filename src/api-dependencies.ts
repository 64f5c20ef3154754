import { SegmentAdmin } from './admin/segment-admin.js';
import { SegmentPreviewer } from './admin/segment-preview.js';
import { DEFAULT_SERVING, type AuthConfig } from './config.js';
import { createTokenVerifier } from './auth/token-verifier.js';
import type { ContextDependencies } from './context.js';
import { bullConnection, createMaintenanceQueue, requestMembershipPublish, type MaintenanceQueue } from './jobs/maintenance-queue.js';
import { createRecomputeQueue, recomputeRequests, type RecomputeQueue, type RecomputeRequests } from './jobs/recompute-queue.js';
import type { Stores } from './stores/create-stores.js';
import { RulePreviewRepository } from './stores/postgres/rule-preview-repository.js';

/** The queues the admin API asks work of. */
export interface ApiQueues {
  recompute: RecomputeRequests;
  /** Asks the workers to publish pending membership events now. */
  requestPublish: () => Promise<void>;
}

/** The BullMQ queues behind ApiQueues, opened on `redisUrl` under the deployment's prefix. */
export function openApiQueues(redisUrl: string, bullPrefix: string) {
  const connection = bullConnection(redisUrl, 'segments-api');
  const recomputeQueue: RecomputeQueue = createRecomputeQueue(connection, bullPrefix);
  const maintenanceQueue: MaintenanceQueue = createMaintenanceQueue(connection, bullPrefix);
  const queues: ApiQueues = {
    recompute: recomputeRequests(recomputeQueue),
    requestPublish: () => requestMembershipPublish(maintenanceQueue),
  };
  return {
    queues,
    recomputeQueue,
    maintenanceQueue,
    close: () => Promise.all([recomputeQueue.close(), maintenanceQueue.close()]).then(() => undefined),
  };
}

/** What the GraphQL API runs on, assembled from the stores, the queues and the auth settings. */
export function createApiDependencies(
  stores: Stores,
  queues: ApiQueues,
  auth: AuthConfig,
  laggingAfterMs = DEFAULT_SERVING.laggingAfterMs,
): ContextDependencies {
  return {
    segments: stores.segments,
    catalog: stores.catalog,
    membershipReader: stores.membershipReader,
    laggingAfterMs,
    admin: new SegmentAdmin({ ...stores, ...queues }),
    previewer: new SegmentPreviewer(stores.segments, new RulePreviewRepository(stores.pool)),
    verifyToken: createTokenVerifier(auth),
  };
}
