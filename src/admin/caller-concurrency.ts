/**
 * How many operations of one kind each caller has running in this process,
 * capped at `max` per caller. Only callers with work in progress are held,
 * so the map never grows with the number of callers ever seen.
 *
 * The count is per process: behind a load balancer over N subgraph processes,
 * one caller may run up to N times `max`.
 */
export class CallerConcurrency {
  private readonly running = new Map<string, number>();

  constructor(readonly max: number) {}

  /** Takes a slot for `caller`: its release function, or undefined when the caller already holds `max`. */
  tryAcquire(caller: string): (() => void) | undefined {
    const count = this.running.get(caller) ?? 0;
    if (count >= this.max) return undefined;
    this.running.set(caller, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.running.get(caller) ?? 1) - 1;
      if (left > 0) this.running.set(caller, left);
      else this.running.delete(caller);
    };
  }

  /** Callers with work in progress. */
  get callers(): number {
    return this.running.size;
  }
}
