import { Queue, type ConnectionOptions } from 'bullmq';
import type { BullPrefixes } from './bull-prefixes.js';

/**
 * The `order-events` queue: producers whose orders do not pass through the
 * capture trigger (another team's database, ORDER_OUTBOX_TRIGGER=false) tell
 * the segments service that a customer ordered. The worker records each job
 * in the change outbox, many jobs per statement, and the evaluator
 * re-evaluates the customer within a second, exactly as for an order the
 * trigger captured. Events of one customer coalesce there.
 */
export const ORDER_EVENTS_QUEUE = 'order-events';

/**
 * How long an announced order may take to become visible in `orders` (replica
 * lag, a job added before its order's commit): until then the worker delays
 * the job and looks again, whatever attempts it was added with; once it has
 * waited this long since it was added, its customer is evaluated against
 * every segment, order found or not (issue 15).
 */
export const ORDER_VISIBILITY_WAIT_MS = 5 * 60_000;

/** The payload of an `order.created` job: ids only, never order contents. */
export interface OrderCreatedEvent {
  type: 'order.created';
  customerId: string;
  orderId: string;
}

export type OrderEventsQueue = Queue<OrderCreatedEvent>;

// Attempts are for failures (Postgres unreachable): about a minute of retries.
// Waiting for an order to become visible is not one (ORDER_VISIBILITY_WAIT_MS).
const JOB_OPTIONS = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 500 },
  removeOnComplete: { count: 1000, age: 3600 },
  removeOnFail: { count: 5000 },
} as const;

export function createOrderEventsQueue(connection: ConnectionOptions, keys: BullPrefixes): OrderEventsQueue {
  return new Queue(ORDER_EVENTS_QUEUE, { connection, prefix: keys.bullPrefix(ORDER_EVENTS_QUEUE), defaultJobOptions: JOB_OPTIONS });
}

function jobFor(event: OrderCreatedEvent) {
  return {
    name: event.type,
    data: { type: event.type, customerId: event.customerId, orderId: event.orderId },
  };
}

/** Announces one new order. The typed way for producers to feed the queue. */
export async function addOrderCreated(queue: OrderEventsQueue, event: OrderCreatedEvent): Promise<void> {
  const { name, data } = jobFor(event);
  await queue.add(name, data);
}

/** Announces many new orders in one round trip. */
export async function addOrdersCreated(queue: OrderEventsQueue, events: readonly OrderCreatedEvent[]): Promise<void> {
  if (events.length > 0) await queue.addBulk(events.map(jobFor));
}
