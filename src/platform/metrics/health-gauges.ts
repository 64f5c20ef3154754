import type { Logger } from '../logger.js';
import type { PipelineBacklogAges } from '../../stores/postgres/pipeline-health-repository.js';
import { Gauge } from 'prom-client';
import { within } from '../deadline.js';

/** BullMQ's Queue, as far as the queue-depth gauge needs it. */
export interface CountableQueue {
  name: string;
  getJobCounts(...types: string[]): Promise<Record<string, number>>;
}

/** Where the gauges read at scrape time come from. */
export interface HealthGaugeSources {
  backlogAges(): Promise<PipelineBacklogAges>;
  computeHealth(): Promise<{ stale: number; failed: number }>;
  logger: Logger;
}

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

let sources: HealthGaugeSources | undefined;
const queues = new Map<string, CountableQueue>();

/**
 * Feeds the Postgres-backed gauges from `next` at every scrape. Both roles of
 * one process (`all`) set the same stores; the last one set wins.
 */
export function setHealthGaugeSources(next: HealthGaugeSources | undefined): void {
  sources = next;
}

/** Counts the jobs of these queues at every scrape, until `untrack` is called (on close). */
export function trackQueues(tracked: readonly CountableQueue[]): () => void {
  for (const queue of tracked) queues.set(queue.name, queue);
  return () => {
    for (const queue of tracked) if (queues.get(queue.name) === queue) queues.delete(queue.name);
  };
}

// A scrape must never fail for a gauge: a failed read is logged and the gauge
// keeps its last value (absent series for queues that could not be counted).
async function guarded(what: string, read: () => Promise<void>): Promise<void> {
  try {
    await read();
  } catch (error) {
    sources?.logger.warn({ err: error, gauge: what }, 'metrics: a gauge could not be read at scrape time');
  }
}

// BullMQ's connections wait for Redis to come back rather than fail a
// command (they must, for its workers): a count asked while Redis is away
// would hold the scrape past Prometheus' scrape timeout, and every other
// gauge with it.
const QUEUE_COUNT_TIMEOUT_MS = 2000;

// prom-client collects every metric of a scrape at once: gauges fed by one
// query share its promise for that scrape.
function oncePerScrape<T>(read: (from: HealthGaugeSources) => Promise<T>): () => Promise<T | undefined> {
  let pending: Promise<T | undefined> | undefined;
  return () => {
    if (!pending) {
      const from = sources;
      pending = (from ? read(from) : Promise.resolve(undefined)).finally(() =>
        setImmediate(() => {
          pending = undefined;
        }),
      );
    }
    return pending;
  };
}

const readAges = oncePerScrape((from) => from.backlogAges());
const readComputeHealth = oncePerScrape((from) => from.computeHealth());

export const oldestUnprocessedChangeAge = new Gauge({
  name: 'segments_oldest_unprocessed_change_age_seconds',
  help: 'Age of the oldest customer change not yet evaluated (customer_change_outbox); 0 when none.',
  collect: () =>
    guarded('oldest unprocessed change', async () => {
      const ages = await readAges();
      if (ages) oldestUnprocessedChangeAge.set(ages.unprocessedChange);
    }),
});

export const oldestUnpublishedEventAge = new Gauge({
  name: 'segments_oldest_unpublished_event_age_seconds',
  help: 'Age of the oldest membership event not yet published to Redis (membership_event_outbox); 0 when none.',
  collect: () =>
    guarded('oldest unpublished event', async () => {
      const ages = await readAges();
      if (ages) oldestUnpublishedEventAge.set(ages.unpublishedEvent);
    }),
});

export const oldestSegmentOutboxEffectAge = new Gauge({
  name: 'segments_oldest_segment_outbox_effect_age_seconds',
  help: "Age of the oldest admin change's side effect not yet carried out (segment_outbox); 0 when none.",
  collect: () =>
    guarded('oldest segment outbox effect', async () => {
      const ages = await readAges();
      if (ages) oldestSegmentOutboxEffectAge.set(ages.segmentOutboxEffect);
    }),
});

export const staleSegments = new Gauge({
  name: 'segments_stale_segments',
  help: 'Live RULE segments without a completed compute within twice their refresh period.',
  collect: () =>
    guarded('stale segments', async () => {
      const health = await readComputeHealth();
      if (health) staleSegments.set(health.stale);
    }),
});

export const failedSegments = new Gauge({
  name: 'segments_failed_segments',
  help: 'Live segments whose last compute failed (quarantined until their rule changes or a recompute succeeds).',
  collect: () =>
    guarded('failed segments', async () => {
      const health = await readComputeHealth();
      if (health) failedSegments.set(health.failed);
    }),
});

export const queueJobs = new Gauge({
  name: 'segments_queue_jobs',
  help: 'Jobs per BullMQ queue and state, read at scrape time.',
  labelNames: ['queue', 'state'] as const,
  async collect() {
    queueJobs.reset();
    await Promise.all(
      [...queues.values()].map((queue) =>
        guarded(`queue ${queue.name}`, async () => {
          const counts = await within(queue.getJobCounts(...QUEUE_STATES), QUEUE_COUNT_TIMEOUT_MS, () => new Error(`no answer within ${QUEUE_COUNT_TIMEOUT_MS} ms`));
          for (const state of QUEUE_STATES) queueJobs.set({ queue: queue.name, state }, counts[state] ?? 0);
        }),
      ),
    );
  },
});
