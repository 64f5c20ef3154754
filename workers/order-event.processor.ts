import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { ORDER_VISIBILITY_WAIT_MS, type OrderCreatedEvent } from '../src/jobs/order-events-queue.js';
import type { Logger } from '../src/platform/logger.js';
import type { AnnouncedOrder, ChangeOutboxRepository } from '../src/stores/postgres/change-outbox-repository.js';

export interface OrderEventResult {
  /** The order was recorded in the change outbox; the evaluator takes it from there. */
  recorded: true;
  /** False when the order never became visible: its customer was recorded for every segment. */
  orderFound: boolean;
}

export interface OrderEventProcessorDependencies {
  outbox: Pick<ChangeOutboxRepository, 'recordAnnouncedOrders'>;
  logger: Logger;
}

export interface OrderEventProcessorOptions {
  /**
   * How long after a job was added its order may take to become visible in
   * `orders`; until then a job whose order is not found is looked at again
   * later, after that its customer is recorded for every segment.
   * @defaultValue ORDER_VISIBILITY_WAIT_MS
   */
  visibilityWaitMs?: number;
}

// Jobs taken within this window (the worker runs many at once) are recorded
// in one INSERT: the queue is drained in batches, not a statement per order.
const FLUSH_AFTER_MS = 10;
const FLUSH_AT = 500;
// An order not found is looked for again after as long as the job has waited
// (so each wait doubles), within these bounds: about a dozen looks in 5 minutes.
const FIRST_LOOK_AGAIN_MS = 500;
const MAX_LOOK_AGAIN_MS = 60_000;

/**
 * Producers' `order.created` jobs: each is recorded in the change outbox,
 * together with the other jobs taken at the same time, and completes once
 * its row is committed. The evaluator then handles it exactly like an order
 * the capture trigger recorded.
 *
 * An order not visible yet (replica lag, a producer racing its own commit)
 * would be evaluated as "nothing changed" (issue 15): its job is delayed and
 * looked at again, without counting as a failed attempt and whatever
 * attempts the producer gave it, for up to `visibilityWaitMs` after it was
 * added. Its last look records the customer for every segment even if the
 * order is still missing (deleted, or a wrong id), and says so in the log.
 */
export function createOrderEventProcessor(deps: OrderEventProcessorDependencies, options: OrderEventProcessorOptions = {}) {
  const visibilityWaitMs = options.visibilityWaitMs ?? ORDER_VISIBILITY_WAIT_MS;
  let pending: Array<{ order: AnnouncedOrder; resolve: (found: boolean) => void; reject: (error: unknown) => void }> = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    const batch = pending;
    pending = [];
    deps.outbox.recordAnnouncedOrders(batch.map(({ order }) => order)).then(
      (missing) => batch.forEach((p) => p.resolve(!missing.has(p.order.orderId))),
      (error: unknown) => batch.forEach((p) => p.reject(error)),
    );
  };
  return async (job: Job<OrderCreatedEvent>, token?: string): Promise<OrderEventResult> => {
    const { customerId, orderId } = job.data ?? {};
    // A malformed job fails alone (and is kept for inspection) instead of failing its batch.
    if (typeof customerId !== 'string' || customerId === '' || typeof orderId !== 'string' || orderId === '') {
      throw new UnrecoverableError('order.created needs customerId and orderId strings');
    }
    const waitedMs = Date.now() - job.timestamp;
    const finalAttempt = waitedMs >= visibilityWaitMs;
    const found = await new Promise<boolean>((resolve, reject) => {
      pending.push({ order: { customerId, orderId, finalAttempt }, resolve, reject });
      if (pending.length >= FLUSH_AT) flush();
      else timer ??= setTimeout(flush, FLUSH_AFTER_MS);
    });
    if (found) return { recorded: true, orderFound: true };
    if (finalAttempt) {
      deps.logger.warn(
        { jobId: job.id, orderId, waitedMs },
        'order.created: the order is still not visible; its customer is evaluated against every segment',
      );
      return { recorded: true, orderFound: false };
    }
    const lookAgainIn = Math.min(Math.max(waitedMs, FIRST_LOOK_AGAIN_MS), MAX_LOOK_AGAIN_MS, visibilityWaitMs - waitedMs);
    await job.moveToDelayed(Date.now() + lookAgainIn, token);
    throw new DelayedError();
  };
}
