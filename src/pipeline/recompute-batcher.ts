import type { RecomputeResult } from './segment-recompute.js';

export interface RecomputeBatcherOptions {
  /** How long a round waits for more requests before it starts. @defaultValue 200 */
  gatherMs?: number;
  /** Segments computed together in one pass (its cost hardly depends on how many). @defaultValue 1000 */
  maxSegments?: number;
  /** Rounds computing at once. @defaultValue 2 */
  concurrency?: number;
}

/**
 * Gathers recompute requests that arrive together (segments created or
 * changed together, schedulers firing together) into rounds computed in one
 * pass over the orders, so they share their scans. A request for a segment
 * already waiting joins that request; one for a segment being computed waits
 * for the next round, so a change made during a computation is never lost.
 */
export class RecomputeBatcher {
  private waiting = new Map<number, Array<{ resolve: (r: RecomputeResult) => void; reject: (e: unknown) => void }>>();
  private readonly computing = new Set<number>();
  private rounds = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly compute: (segmentIds: readonly number[]) => Promise<Map<number, RecomputeResult>>,
    private readonly options: RecomputeBatcherOptions = {},
  ) {}

  request(segmentId: number): Promise<RecomputeResult> {
    return new Promise((resolve, reject) => {
      const list = this.waiting.get(segmentId) ?? [];
      list.push({ resolve, reject });
      this.waiting.set(segmentId, list);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.timer || this.rounds >= (this.options.concurrency ?? 2)) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.startRound();
    }, this.options.gatherMs ?? 200);
  }

  private startRound(): void {
    const ids = [...this.waiting.keys()].filter((id) => !this.computing.has(id)).slice(0, this.options.maxSegments ?? 1000);
    if (ids.length === 0) return;
    const waiters = ids.map((id) => [id, this.waiting.get(id)!] as const);
    for (const id of ids) {
      this.waiting.delete(id);
      this.computing.add(id);
    }
    this.rounds++;
    this.compute(ids)
      .then(
        (results) => waiters.forEach(([id, list]) => list.forEach((w) => w.resolve(results.get(id)!))),
        (error: unknown) => waiters.forEach(([, list]) => list.forEach((w) => w.reject(error))),
      )
      .finally(() => {
        this.rounds--;
        for (const id of ids) this.computing.delete(id);
        if (this.waiting.size > 0) this.schedule();
      });
    if (this.waiting.size > 0) this.schedule();
  }
}
