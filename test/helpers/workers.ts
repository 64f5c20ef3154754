import { createLogger } from '../../src/logger.js';
import type { Stores } from '../../src/stores/create-stores.js';
import { startWorkers, type RunningWorkers, type WorkerDependencies } from '../../workers/index.js';
import { TEST_REDIS_URL } from './test-environment.js';

/** The real workers over `stores`, in this process. */
export function startTestWorkers(stores: Stores, options: Partial<WorkerDependencies> = {}): Promise<RunningWorkers> {
  return startWorkers({ redisUrl: TEST_REDIS_URL, stores, logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'), ...options });
}
