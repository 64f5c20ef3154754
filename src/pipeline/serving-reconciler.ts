import type pg from 'pg';
import type { Logger } from '../platform/logger.js';
import type { CustomerMemberships, MembershipRepository } from '../stores/postgres/membership-repository.js';
import { ServingStoreBusyError, withServingStoreLock } from '../stores/postgres/serving-store-lock.js';
import type { MembershipServingStore } from '../stores/redis/serving-store.js';
import { PollingLoop } from './polling-loop.js';
import { repeatedErrorLog } from '../platform/repeated-error-log.js';

/** Customers a reconciler compares a round (a second) unless configured otherwise. */
export const DEFAULT_RECONCILE_BATCH = 500;

export interface ServingReconcilerOptions {
  /** Customers compared per round; 0 turns the reconciler off. @defaultValue DEFAULT_RECONCILE_BATCH */
  batch?: number;
  /** Time between rounds, in ms: a deployment's, whatever its number of workers. @defaultValue 1000 */
  everyMs?: number;
}

export interface ReconcileRound {
  /** Customers compared (those with a membership event still to publish are left to the publisher). */
  checked: number;
  /** Customers whose serving key differed from Postgres and was rewritten. */
  drifted: string[];
}

// Another process publishing or rebuilding holds the lock: this round waits its turn briefly, or skips.
const LOCK_WAIT_MS = 250;

// Timers fire a little early or late: a round is due once this share of the period has passed since the last.
const DUE_AFTER_SHARE = 0.9;

/**
 * Walks the customers with memberships, a batch per round, comparing their
 * Redis serving keys with Postgres, and rewrites the keys that differ: nothing
 * should ever differ (publication is exact), so any drift is a bug or a lost
 * write, counted for an alert and repaired. A round holds the serving-store
 * lock, so no publication runs between its two reads: what Redis holds is
 * what was published, and customers with events still to publish (the
 * publisher's to carry) are left out. Every worker runs one, and they share
 * one walk (kept in Postgres) and one round a period: the deployment compares
 * `batch` customers a period and each customer once every (customers / batch)
 * rounds, where walks of their own would multiply the cost by the workers.
 */
export class ServingReconciler {
  private readonly batch: number;
  private readonly minGapMs: number;
  private readonly loop: PollingLoop;
  private readonly logFailure: (error: unknown) => void;

  constructor(
    private readonly deps: {
      pool: pg.Pool;
      memberships: Pick<MembershipRepository, 'nextReconcilePage'>;
      servingStore: Pick<MembershipServingStore, 'readMany' | 'replaceCustomers'>;
      /** Told of every round (metrics). */
      onRound?: (round: ReconcileRound) => void;
      logger: Logger;
    },
    options: ServingReconcilerOptions = {},
  ) {
    this.batch = options.batch ?? DEFAULT_RECONCILE_BATCH;
    const everyMs = options.everyMs ?? 1000;
    this.minGapMs = everyMs * DUE_AFTER_SHARE;
    this.logFailure = repeatedErrorLog(deps.logger, 'reconciling the serving store failed; retrying at the next round');
    this.loop = new PollingLoop(
      () =>
        this.reconcileNext().then(
          () => undefined,
          (error: unknown) => (error instanceof ServingStoreBusyError ? undefined : this.logFailure(error)),
        ),
      everyMs,
    );
  }

  start(): void {
    if (this.batch > 0) this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** Compares and repairs the next batch of customers; null when another worker's round was too recent. */
  async reconcileNext(): Promise<ReconcileRound | null> {
    const round = await withServingStoreLock(this.deps.pool, LOCK_WAIT_MS, async (client) => {
      const page = await this.deps.memberships.nextReconcilePage(this.batch, this.minGapMs, client);
      if (page === null) return null;
      const settled = page.filter((customer) => !customer.pending);
      if (settled.length === 0) return { checked: 0, drifted: [] };
      const served = await this.deps.servingStore.readMany(settled.map((c) => c.customerId));
      // Keys Redis lost altogether are the rebuild's to restore.
      if (!served.built) return { checked: 0, drifted: [] };
      const differing = settled.filter((customer, i) => !same(customer, served.snapshots[i]!));
      if (differing.length > 0) await this.deps.servingStore.replaceCustomers(differing);
      return { checked: settled.length, drifted: differing.map((c) => c.customerId) };
    });
    if (round === null) return null;
    if (round.drifted.length > 0) {
      this.deps.logger.warn({ customers: round.drifted.length, sample: round.drifted.slice(0, 10) }, 'serving store drifted from Postgres; rewrote the customers');
    }
    this.deps.onRound?.(round);
    return round;
  }
}

function same(customer: CustomerMemberships, served: ReadonlyMap<number, number>): boolean {
  if (customer.memberships.length !== served.size) return false;
  return customer.memberships.every((m) => served.get(m.segmentId) === m.since.getTime());
}
