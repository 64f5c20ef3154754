import { UnrecoverableError, type Job } from 'bullmq';
import type { OrderCreatedEvent } from '../src/jobs/order-events-queue.js';
import type { ChangeOutboxRepository } from '../src/stores/postgres/change-outbox-repository.js';

export interface OrderEventResult {
  /** The order was recorded in the change outbox; the evaluator takes it from there. */
  recorded: true;
}

// Jobs taken within this window (the worker runs many at once) are recorded
// in one INSERT: the queue is drained in batches, not a statement per order.
const FLUSH_AFTER_MS = 10;
const FLUSH_AT = 500;

/**
 * Producers' `order.created` jobs: each is recorded in the change outbox,
 * together with the other jobs taken at the same time, and completes once
 * its row is committed. The evaluator then handles it exactly like an order
 * the capture trigger recorded.
 */
export function createOrderEventProcessor(outbox: Pick<ChangeOutboxRepository, 'recordAnnouncedOrders'>) {
  let pending: Array<{ event: OrderCreatedEvent; resolve: () => void; reject: (error: unknown) => void }> = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    const batch = pending;
    pending = [];
    outbox.recordAnnouncedOrders(batch.map(({ event }) => ({ customerId: event.customerId, orderId: event.orderId }))).then(
      () => batch.forEach((p) => p.resolve()),
      (error: unknown) => batch.forEach((p) => p.reject(error)),
    );
  };
  return async (job: Job<OrderCreatedEvent>): Promise<OrderEventResult> => {
    const { customerId, orderId } = job.data ?? {};
    // A malformed job fails alone (and is kept for inspection) instead of failing its batch.
    if (typeof customerId !== 'string' || customerId === '' || typeof orderId !== 'string' || orderId === '') {
      throw new UnrecoverableError('order.created needs customerId and orderId strings');
    }
    await new Promise<void>((resolve, reject) => {
      pending.push({ event: job.data, resolve, reject });
      if (pending.length >= FLUSH_AT) flush();
      else timer ??= setTimeout(flush, FLUSH_AFTER_MS);
    });
    return { recorded: true };
  };
}
