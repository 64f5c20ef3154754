import type { MembershipEvent } from '../../stores/redis/membership-event-stream.js';
import { evaluatedToServed, membershipChanges, orderToEvaluated, orderToServed } from './metrics.js';

// Bounds the memory of the order -> served lag: evaluations whose events are
// not published before this many more customers were evaluated are forgotten.
const REMEMBERED_CUSTOMERS = 100_000;

/** When each evaluated customer's oldest change was recorded, by evaluation time and customer, until published. */
const recordedAt = new Map<string, number>();
const key = (evaluatedAt: number, customerId: string) => `${evaluatedAt}|${customerId}`;

/**
 * The change evaluator's side: one evaluation at `asOf` of customers'
 * changes recorded at the given times (segments_order_to_evaluated_seconds).
 */
export function observeEvaluation(asOf: Date, changes: readonly { customerId: string; recordedAt: Date }[]): void {
  for (const change of changes) {
    orderToEvaluated.observe(Math.max(0, asOf.getTime() - change.recordedAt.getTime()) / 1000);
    const k = key(asOf.getTime(), change.customerId);
    const known = recordedAt.get(k);
    if (known === undefined || change.recordedAt.getTime() < known) recordedAt.set(k, change.recordedAt.getTime());
  }
  // Maps iterate in insertion order: the oldest entries go first.
  for (const k of recordedAt.keys()) {
    if (recordedAt.size <= REMEMBERED_CUSTOMERS) break;
    recordedAt.delete(k);
  }
}

/**
 * The publisher's side: membership events now served by Redis. Counts them by
 * change and cause, observes evaluated -> served for each, and order -> served
 * for event-caused ones whose evaluation this process remembers.
 */
export function observePublished(events: readonly MembershipEvent[], servedAt = Date.now()): void {
  for (const event of events) {
    membershipChanges.inc({ change: event.change, cause: event.cause });
    const at = new Date(event.at).getTime();
    evaluatedToServed.observe(Math.max(0, servedAt - at) / 1000);
    if (event.cause !== 'event') continue;
    const recorded = recordedAt.get(key(at, event.customerId));
    if (recorded !== undefined) orderToServed.observe(Math.max(0, servedAt - recorded) / 1000);
  }
  // One customer's events of one evaluation are published in one batch: forget them afterwards.
  for (const event of events) if (event.cause === 'event') recordedAt.delete(key(new Date(event.at).getTime(), event.customerId));
}
