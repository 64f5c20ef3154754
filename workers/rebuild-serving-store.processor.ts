import type { Job } from 'bullmq';
import type { RebuildServingStoreJob } from '../src/jobs/maintenance-queue.js';
import type { Logger } from '../src/platform/logger.js';
import { rebuildServingStore, type RebuildResult } from '../src/pipeline/rebuild-serving-store.js';
import type { WorkerStores } from '../src/pipeline/worker-stores.js';

export type RebuildOutcome = RebuildResult | { skipped: 'serving store is built' };

export function createRebuildServingStoreProcessor(stores: Pick<WorkerStores, 'pool' | 'memberships' | 'servingStore'>, logger: Logger) {
  return async (job: Job<RebuildServingStoreJob['data']>): Promise<RebuildOutcome> => {
    if (job.data.onlyIfMissing && (await stores.servingStore.builtAt())) return { skipped: 'serving store is built' };
    const result = await rebuildServingStore(stores.pool, stores.memberships, stores.servingStore);
    logger.info({ jobId: job.id, ...result }, 'serving store rebuilt from Postgres');
    return result;
  };
}
