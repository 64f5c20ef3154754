import { createLogger } from '../../src/platform/logger.js';
import type { Stores } from './test-environment.js';
import { recomputeRequests, type RecomputeQueue } from '../../src/jobs/recompute-queue.js';
import { startWorkers, type RunningWorkers, type WorkerDependencies } from '../../workers/index.js';
import { eraseServingKeys } from '../../src/pipeline/erase-serving-keys.js';
import { SegmentOutboxRelay } from '../../src/pipeline/segment-outbox-relay.js';

/**
 * The real workers over `stores`, in this process. `orderOutboxTrigger` sets
 * the capture triggers first, as the migration step does for a deployment.
 */
export async function startTestWorkers(stores: Stores, options: Partial<WorkerDependencies> & { orderOutboxTrigger?: boolean } = {}): Promise<RunningWorkers> {
  const { orderOutboxTrigger, ...rest } = options;
  if (orderOutboxTrigger !== undefined) await stores.changeOutbox.setTriggers(orderOutboxTrigger);
  return startWorkers({ redis: stores.redisTarget, stores, logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'), ...rest });
}

export interface RunningRelay {
  stop(): Promise<void>;
}

/**
 * Only the workers' relay of admin side effects, queueing on `recomputeQueue`
 * with nobody consuming it: what the mutations asked for stays there to be
 * inspected.
 */
export function startSegmentOutboxRelay(stores: Stores, recomputeQueue: RecomputeQueue): RunningRelay {
  const relay = new SegmentOutboxRelay({
    outbox: stores.segmentOutbox,
    segments: stores.segments,
    segmentChanges: stores.segmentChanges,
    recompute: recomputeRequests(recomputeQueue),
    eraseServingKeys: (customerIds) => eraseServingKeys(stores, customerIds),
    logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'),
  });
  relay.start();
  return { stop: () => relay.stop() };
}
