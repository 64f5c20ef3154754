import type { Job, Worker } from 'bullmq';
import { jobDuration } from './metrics.js';

/** Observes every finished job of `worker` in segments_job_duration_seconds, by queue, job name and outcome. */
// Any job shape: only names and timestamps are read. (`unknown` would not accept a
// Worker of a concrete payload: its processor's parameter makes it invariant.)
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function measureJobs<T extends Worker<any, any, any>>(worker: T): T {
  const observe = (job: Job | undefined, outcome: 'completed' | 'failed') => {
    if (!job?.processedOn || !job.finishedOn) return;
    jobDuration.observe({ queue: worker.name, job: job.name, outcome }, (job.finishedOn - job.processedOn) / 1000);
  };
  worker.on('completed', (job) => observe(job, 'completed'));
  worker.on('failed', (job) => observe(job, 'failed'));
  return worker;
}
