import { Queue, type ConnectionOptions } from 'bullmq';

/**
 * The `order-events` queue: producers tell the segments service that a
 * customer ordered, and the worker re-evaluates that customer's order-based
 * segments within seconds. The outbox relay feeds it too, for orders written
 * straight to the database.
 */
export const ORDER_EVENTS_QUEUE = 'order-events';

/** The payload of an `order.created` job: ids only, never order contents. */
export interface OrderCreatedEvent {
  type: 'order.created';
  customerId: string;
  orderId: string;
}

export type OrderEventsQueue = Queue<OrderCreatedEvent>;

/**
 * Events of one customer arriving within this window collapse into one
 * evaluation (BullMQ debounce: the delayed job is replaced and its window
 * extended). The window elapses before the job runs, so an event arriving
 * while the evaluation runs starts a new one and is never lost.
 */
export const ORDER_EVENT_DEBOUNCE_MS = 250;

const JOB_OPTIONS = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 500 },
  removeOnComplete: { count: 1000 },
  removeOnFail: { count: 5000 },
} as const;

export function createOrderEventsQueue(connection: ConnectionOptions, prefix: string): OrderEventsQueue {
  return new Queue(ORDER_EVENTS_QUEUE, { connection, prefix, defaultJobOptions: JOB_OPTIONS });
}

function jobFor(event: OrderCreatedEvent) {
  return {
    name: event.type,
    data: { type: event.type, customerId: event.customerId, orderId: event.orderId },
    opts: {
      delay: ORDER_EVENT_DEBOUNCE_MS,
      deduplication: { id: `customer:${event.customerId}`, ttl: ORDER_EVENT_DEBOUNCE_MS, extend: true, replace: true },
    },
  };
}

/** Announces one new order. The typed way for producers to feed the queue. */
export async function addOrderCreated(queue: OrderEventsQueue, event: OrderCreatedEvent): Promise<void> {
  const { name, data, opts } = jobFor(event);
  await queue.add(name, data, opts);
}

/** Announces many new orders in one round trip. */
export async function addOrdersCreated(queue: OrderEventsQueue, events: readonly OrderCreatedEvent[]): Promise<void> {
  if (events.length > 0) await queue.addBulk(events.map(jobFor));
}
