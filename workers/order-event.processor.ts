import type { Job } from 'bullmq';
import type { OrderCreatedEvent } from '../src/jobs/order-events-queue.js';
import type { RuleIndex } from '../src/rules/rule-index.js';
import type { Stores } from '../src/stores/create-stores.js';
import { INLINE_LOCK_WAIT_MS, type PublishOutcome } from './publish-membership-events.processor.js';

export interface OrderEventResult {
  customerId: string;
  /** Segments evaluated: only those the customer's orders can change. */
  evaluated: number;
  entered: number[];
  left: number[];
}

/**
 * The event path: re-evaluates one customer (however many of their events
 * were coalesced into this job) against the segments their orders can change,
 * one SQL statement per dependency level, then publishes the changes.
 */
export function createOrderEventProcessor(stores: Stores, ruleIndex: () => RuleIndex, publish: (lockWaitMs: number) => Promise<PublishOutcome>) {
  return async (job: Job<OrderCreatedEvent>): Promise<OrderEventResult> => {
    const { customerId } = job.data;
    const asOf = new Date();
    const levels = ruleIndex().affectedBy(await stores.computations.customerStores(customerId));
    const entered: number[] = [];
    const left: number[] = [];
    for (const level of levels) {
      const changes = await stores.computations.evaluateCustomer(customerId, level, asOf);
      entered.push(...changes.entered);
      left.push(...changes.left);
    }
    if (entered.length + left.length > 0) await publish(INLINE_LOCK_WAIT_MS);
    return { customerId, evaluated: levels.flat().length, entered, left };
  };
}
