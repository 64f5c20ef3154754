import type pg from 'pg';
import { OUTBOX_PARTITIONS, type CustomerEvaluationRepository } from '../stores/postgres/customer-evaluation-repository.js';

export interface PartitionLeasesOptions {
  /** How often the process announces itself and rebalances. @defaultValue 1000 */
  rebalanceMs?: number;
  /** A process not seen for this long no longer counts as live: its share goes to the others. @defaultValue 3000 */
  liveMs?: number;
}

/**
 * Which partitions of the change outbox this evaluator process drains. Each
 * partition is a session advisory lock on the process's evaluation
 * connection, so two processes never evaluate the same customer, and a
 * process that dies (its connection closes) frees its partitions at once.
 * A process that sees others when it first announces itself takes
 * partitions from its next round, so that processes started together share
 * from the start; one alone takes them all at once. Every
 * `rebalanceMs` between batches, the process announces itself
 * (`evaluator_members`) and aims at an equal share, ceil(64 / live
 * processes): it lets the partitions beyond its share go, and takes free ones
 * up to it. A stopped or killed process's share is taken over within about
 * `liveMs + rebalanceMs`.
 */
export class PartitionLeases {
  private readonly held = new Set<number>();
  private lastRebalance = -Infinity;
  private announced = false;
  private readonly rebalanceMs: number;
  private readonly liveMs: number;
  // Where this process starts looking for free partitions: processes starting together try different ones first.
  private readonly offset = Math.floor(Math.random() * OUTBOX_PARTITIONS);

  constructor(
    private readonly repository: Pick<CustomerEvaluationRepository, 'heartbeat' | 'lockPartitions' | 'unlockPartitions' | 'leave'>,
    readonly memberId: string,
    options: PartitionLeasesOptions = {},
  ) {
    this.rebalanceMs = options.rebalanceMs ?? 1000;
    this.liveMs = options.liveMs ?? 3000;
  }

  /** The partitions to claim from: null when this process holds them all. */
  get claimable(): readonly number[] | null {
    return this.held.size === OUTBOX_PARTITIONS ? null : [...this.held].sort((a, b) => a - b);
  }

  get count(): number {
    return this.held.size;
  }

  /** The connection was lost, and its locks with it. */
  lost(): void {
    this.held.clear();
    this.lastRebalance = -Infinity;
    this.announced = false;
  }

  /** Announces the process and moves its share toward ceil(64 / live), at most every `rebalanceMs`. */
  async rebalance(client: pg.PoolClient): Promise<void> {
    const now = Date.now();
    if (now - this.lastRebalance < this.rebalanceMs) return;
    this.lastRebalance = now;
    const live = await this.repository.heartbeat(client, this.memberId, this.liveMs);
    // Seeing others in its first round, a process only announces itself: processes started together
    // then see each other before taking a share. Alone, it takes every partition at once.
    if (!this.announced) {
      this.announced = true;
      if (live > 1) return;
    }
    const share = Math.ceil(OUTBOX_PARTITIONS / live);
    if (this.held.size > share) {
      const extra = [...this.held].sort((a, b) => a - b).slice(share);
      await this.repository.unlockPartitions(client, extra);
      for (const p of extra) this.held.delete(p);
    } else if (this.held.size < share) {
      const candidates: number[] = [];
      for (let i = 0; i < OUTBOX_PARTITIONS; i++) {
        const p = (this.offset + i) % OUTBOX_PARTITIONS;
        if (!this.held.has(p)) candidates.push(p);
      }
      for (const p of await this.repository.lockPartitions(client, candidates, share - this.held.size)) this.held.add(p);
    }
  }

  /** Lets every partition go and leaves the members, so that the others take over at once. */
  async release(client: pg.PoolClient): Promise<void> {
    await this.repository.unlockPartitions(client, [...this.held]);
    this.held.clear();
    await this.repository.leave(client, this.memberId);
  }
}
