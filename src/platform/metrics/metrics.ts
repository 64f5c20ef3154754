/**
 * Every Prometheus metric of the service (docs/operations.md "Metrics"), on
 * prom-client's default registry: one registry per process, served at
 * `GET /metrics` by the subgraph and by the worker's operations listener.
 * Labels are bounded: no customer or segment ids.
 */
import { collectDefaultMetrics, Counter, Histogram, register } from 'prom-client';

export const METRIC_PREFIX = 'segments_';
export const registry = register;

let defaultsCollected = false;
/** Process metrics (CPU, memory, event loop lag, GC), once per process. */
export function collectProcessMetrics(): void {
  if (defaultsCollected) return;
  defaultsCollected = true;
  collectDefaultMetrics({ prefix: METRIC_PREFIX });
}

export type StoreName = 'redis' | 'postgres';
/** The store calls measured: a small fixed set. */
export type StoreCall = 'serving_read' | 'fallback_read' | 'replacing_read' | 'publish' | 'outbox_relay';

// Serving reads take milliseconds; computes and lag take seconds to hours.
const FAST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const SLOW_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600];
const LAG_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

export const graphqlOperations = new Counter({
  name: 'segments_graphql_operations_total',
  help: 'GraphQL operations executed, by operation type and outcome (error: the response carries errors).',
  labelNames: ['operation_type', 'outcome'] as const,
});

export const graphqlOperationDuration = new Histogram({
  name: 'segments_graphql_operation_duration_seconds',
  help: 'Time from receiving a GraphQL operation to sending its response, by operation type.',
  labelNames: ['operation_type'] as const,
  buckets: FAST_BUCKETS,
});

export const membershipBatchSize = new Histogram({
  name: 'segments_membership_batch_size',
  help: 'Customers per membership read batch (one DataLoader batch).',
  buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000],
});

export const storeCallDuration = new Histogram({
  name: 'segments_store_call_duration_seconds',
  help: 'Duration of calls to Redis and Postgres on the serving and publication paths, by store and call.',
  labelNames: ['store', 'call'] as const,
  buckets: FAST_BUCKETS,
});

export const storeCallErrors = new Counter({
  name: 'segments_store_call_errors_total',
  help: 'Calls to Redis and Postgres that failed or timed out, by store and call.',
  labelNames: ['store', 'call'] as const,
});

export const servingReads = new Counter({
  name: 'segments_serving_reads_total',
  help: 'Customers whose memberships were served, by source: REDIS, POSTGRES (fallback) or NONE (safe defaults).',
  labelNames: ['source'] as const,
});

export const jobDuration = new Histogram({
  name: 'segments_job_duration_seconds',
  help: 'Time a worker spent on a job (finishedOn - processedOn), by queue, job name and outcome.',
  labelNames: ['queue', 'job', 'outcome'] as const,
  buckets: SLOW_BUCKETS,
});

export const recomputeDuration = new Histogram({
  name: 'segments_recompute_duration_seconds',
  help: 'Duration of a full segment recompute, its wait for the batch included.',
  buckets: SLOW_BUCKETS,
});

export const membershipChanges = new Counter({
  name: 'segments_membership_changes_total',
  help: 'Membership changes published, by change (ENTERED, LEFT) and cause (schedule, event, manual, import).',
  labelNames: ['change', 'cause'] as const,
});

export const servingDrift = new Counter({
  name: 'segments_serving_drift_customers_total',
  help: 'Customers whose Redis serving key the reconciler found different from Postgres, and rewrote; any increase is a bug to alert on.',
});

export const servingReconciled = new Counter({
  name: 'segments_serving_reconciled_customers_total',
  help: 'Customers the reconciler compared between Redis and Postgres.',
});

export const orderToEvaluated = new Histogram({
  name: 'segments_order_to_evaluated_seconds',
  help: 'From a customer change being recorded (an order) to its evaluation.',
  buckets: LAG_BUCKETS,
});

export const evaluatedToServed = new Histogram({
  name: 'segments_evaluated_to_served_seconds',
  help: 'From a membership change being evaluated to it being served by Redis.',
  buckets: LAG_BUCKETS,
});

export const orderToServed = new Histogram({
  name: 'segments_order_to_served_seconds',
  help: 'From a customer change being recorded to the membership change it caused being served by Redis (changes evaluated in this process).',
  buckets: LAG_BUCKETS,
});

/** Times `work` into storeCallDuration, counting a rejection in storeCallErrors. */
export async function timeStoreCall<T>(store: StoreName, call: StoreCall, work: () => Promise<T>): Promise<T> {
  const end = storeCallDuration.startTimer({ store, call });
  try {
    return await work();
  } catch (error) {
    storeCallErrors.inc({ store, call });
    throw error;
  } finally {
    end();
  }
}
