import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type pg from 'pg';
import type { Logger } from '../platform/logger.js';
import { observeEvaluation } from '../platform/metrics/order-lag.js';
import { CompiledRules, RuleEvaluationError, type CompiledSegment } from '../rules/compiled-rules.js';
import { CustomerEvaluation } from '../rules/customer-evaluation.js';
import { micros } from '../rules/instant-micros.js';
import type { Rule } from '../rules/rule.js';
import type { RuleIndex } from '../rules/rule-index.js';
import type { ChangeOutboxRepository, CustomerChange } from '../stores/postgres/change-outbox-repository.js';
import type {
  CustomerEvaluationRepository,
  EvaluatedSegment,
  EvaluationCause,
  MembershipFlip,
} from '../stores/postgres/customer-evaluation-repository.js';
import { PartitionLeases, type PartitionLeasesOptions } from './partition-leases.js';

export interface ChangeEvaluatorOptions {
  /** Newest rows (recorded within `freshWindowMs`) taken first in every batch. @defaultValue 1000 */
  freshBatch?: number;
  /** @defaultValue 2000 */
  freshWindowMs?: number;
  /** Oldest rows per batch to start with; grows while a backlog drains fast, shrinks when batches are slow. @defaultValue 2000 */
  backlogBatch?: number;
  /** @defaultValue 20000 */
  maxBacklogBatch?: number;
  /** How often an idle evaluator looks at the outbox. @defaultValue 100 */
  pollMs?: number;
  /** How the process shares the outbox's partitions with other evaluator processes. */
  partitions?: PartitionLeasesOptions;
  /**
   * Customers' facts are read and evaluated in slices of about this many
   * (customer, segment) evaluations, so that a batch's memory does not grow
   * with its customers x segments. @defaultValue 100000
   */
  evaluationsPerRead?: number;
}

/** What one batch cost and did: the cost model's figures (docs/pipeline.md "The event path"). */
export interface BatchReport {
  /** The time of computation: relative windows were measured back from it. */
  asOf: Date;
  /** Outbox rows claimed (an order, a customer update, a time crossing...). */
  changes: number;
  customers: number;
  /** Distinct segments evaluated. */
  segments: number;
  /** (customer, segment) evaluations. */
  evaluations: number;
  /** Distinct order aggregates computed, summed over the batch's customers: each is computed once per customer, however many segments read it. */
  conditions: number;
  /** Order rows read. */
  orders: number;
  entered: number;
  left: number;
  ms: number;
  /** Where the batch's time went: claim and versions, facts read, evaluation in the worker, flips written (ms). */
  claimMs: number;
  readMs: number;
  evaluateMs: number;
  writeMs: number;
  /** Age of the oldest change in the batch, from its commit to its evaluation. */
  maxLagMs: number;
  /** Outbox partitions this process held. */
  partitions: number;
}

/** Where the evaluator gets its rule index: at the revision each batch read. */
export interface RuleIndexSource {
  at(revision: string): Promise<RuleIndex>;
}

const BATCH_TARGET_MS = 500;

/**
 * The event path: drains the change outbox in batches and evaluates each
 * batch's customers against the segments their changes can affect, in this
 * process (compiled rules over the batch's rows, read in one statement), then
 * writes only the flips, with their events, in the same transaction as the
 * claim, so a crash leaves the changes to be claimed again.
 *
 * The cost of a batch is its customers x the distinct order aggregates the
 * affected segments read (each computed once per customer from the orders of
 * its stores), plus a constant per segment evaluated; it does not depend on
 * other segments, nor on orders of stores no affected rule reads. Several
 * processes evaluate at once, each the partitions of the outbox it holds
 * (PartitionLeases). No segment row is locked: sizes move by delta rows.
 *
 * Fresh changes come first in every batch, so an order never waits behind a
 * backlog (a bulk load, a restart) for more than one batch; the backlog lane
 * grows while it drains quickly. A segment whose rule cannot be evaluated is
 * quarantined; the others are evaluated.
 */
export class ChangeEvaluator {
  private client: pg.PoolClient | null = null;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private backlogBatch: number;
  private readonly rules = new Map<string, Rule>();
  private readonly compiled = new CompiledRules();
  readonly leases: PartitionLeases;

  constructor(
    private readonly deps: {
      outbox: Pick<ChangeOutboxRepository, 'claim'>;
      evaluations: CustomerEvaluationRepository;
      ruleIndex: RuleIndexSource;
      /** Called after a batch changed memberships (publication). */
      onChanged: () => void;
      onBatch?: (report: BatchReport) => void;
      logger: Logger;
    },
    private readonly options: ChangeEvaluatorOptions = {},
  ) {
    this.backlogBatch = options.backlogBatch ?? 2000;
    this.leases = new PartitionLeases(deps.evaluations, `${hostname()}:${process.pid}:${randomUUID()}`, options.partitions);
  }

  start(): void {
    this.loop = this.run();
  }

  /** Finishes the batch in progress, then lets its partitions go. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeUp?.();
    await this.loop;
  }

  /** Looks at the outbox now instead of at the next poll. */
  wake(): void {
    this.wakeUp?.();
  }

  private async run(): Promise<void> {
    const pollMs = this.options.pollMs ?? 100;
    while (!this.stopped) {
      try {
        this.client ??= await this.deps.evaluations.connect();
        await this.leases.rebalance(this.client);
        const report = await this.runBatch(this.client);
        if (report === null) await this.sleep(pollMs);
      } catch (error) {
        this.deps.logger.error({ err: error }, 'change evaluation failed; retrying');
        if (this.client) {
          // A connection in an unknown state is closed, and its partition locks go with it.
          this.client.release(true);
          this.client = null;
          this.leases.lost();
        }
        await this.sleep(1000);
      }
    }
    if (this.client) {
      try {
        await this.leases.release(this.client);
        this.client.release();
      } catch {
        this.client.release(true);
      }
    }
    this.client = null;
  }

  /** One batch in one transaction; null when the outbox (of the partitions held) was empty. */
  async runBatch(client: pg.PoolClient): Promise<BatchReport | null> {
    const started = Date.now();
    const partitions = this.leases.claimable;
    if (partitions !== null && partitions.length === 0) return null;
    const limits = {
      fresh: this.options.freshBatch ?? 1000,
      oldest: this.backlogBatch,
      freshWindowMs: this.options.freshWindowMs ?? 2000,
      partitions,
    };
    let evaluated: { asOf: Date; changes: CustomerChange[] } | undefined;
    const report = await this.deps.evaluations.transaction(client, async (tx) => {
      const { changes, asOf, revision } = await this.deps.outbox.claim(tx, limits);
      const timer = stopwatch();
      if (changes.length === 0 || !asOf || !revision) return null;
      evaluated = { asOf, changes };
      const index = await this.deps.ruleIndex.at(revision);
      const wanted = segmentsPerCustomer(changes, index, asOf);
      const segmentIds = new Set<number>();
      for (const { segments } of wanted.values()) for (const id of segments) segmentIds.add(id);
      const live = await this.compile(tx, await this.deps.evaluations.liveSegments(tx, [...segmentIds], this.rules));
      const claimMs = timer.lap() + (timer.started - started);
      const scope = this.compiled.readScope([...live.values()].map((l) => l.program), asOf);
      const versions = new Map([...live].map(([id, { segment }]) => [id, segment.version]));
      const level = (id: number) => index.levelOf(id);
      const totals = { evaluations: 0, conditions: 0, orders: 0, entered: 0, left: 0, readMs: 0, evaluateMs: 0, writeMs: 0 };
      // Facts are read, evaluated and written a slice of customers at a time, all in this transaction:
      // a backlog batch at 10,000 segments (thousands of customers, hundreds of memberships and
      // evaluations each) would otherwise hold its whole read in memory at once.
      for (const slice of slices(wanted, live, this.options.evaluationsPerRead ?? 100_000)) {
        const facts = await this.deps.evaluations.readBatch(tx, { customerIds: slice.map(([id]) => id), ...scope });
        totals.readMs += timer.lap();
        totals.orders += facts.orderRows;
        const flips: MembershipFlip[] = [];
        const journal = new Map<number, string[]>();
        for (const [customerId, { segments, cause }] of slice) {
          // Lower dependency levels first: a segment read through inSegment is evaluated before its readers.
          const order = [...segments].filter((id) => live.has(id)).sort((a, b) => level(a) - level(b) || a - b);
          if (order.length === 0) continue;
          const members = facts.memberships.get(customerId) ?? new Set<number>();
          const row = facts.customers.get(customerId);
          // A customer missing from customers is a member of nothing.
          const customer = row && new CustomerEvaluation(this.compiled, asOf, row, facts.orders.get(customerId) ?? [], members);
          for (const id of order) {
            const { segment, program } = live.get(id)!;
            const was = members.has(id);
            let member = false;
            if (customer) member = customer.evaluate(program);
            else members.delete(id);
            if (member !== was) flips.push({ segmentId: id, customerId, member, cause });
            if (segment.computing) {
              let list = journal.get(id);
              if (!list) journal.set(id, (list = []));
              list.push(customerId);
            }
          }
          totals.evaluations += order.length;
          totals.conditions += customer?.aggregatesComputed ?? 0;
        }
        totals.evaluateMs += timer.lap();
        const outcome = await this.deps.evaluations.applyFlips(tx, { asOf, flips, versions, journal });
        totals.writeMs += timer.lap();
        totals.entered += outcome.entered;
        totals.left += outcome.left;
      }
      const oldest = Math.min(...changes.map((c) => c.recordedAt.getTime()));
      return {
        asOf,
        changes: changes.length,
        customers: wanted.size,
        segments: live.size,
        evaluations: totals.evaluations,
        conditions: totals.conditions,
        orders: totals.orders,
        entered: totals.entered,
        left: totals.left,
        ms: 0,
        claimMs,
        readMs: totals.readMs,
        evaluateMs: totals.evaluateMs,
        writeMs: totals.writeMs,
        maxLagMs: asOf.getTime() - oldest,
        partitions: this.leases.count,
      };
    });
    if (report === null) return null;
    if (evaluated) observeEvaluation(evaluated.asOf, evaluated.changes);
    report.ms = Date.now() - started;
    this.adapt(report, limits.oldest);
    if (report.entered + report.left > 0) this.deps.onChanged();
    this.deps.onBatch?.(report);
    this.deps.logger.debug(report, 'changes evaluated');
    return report;
  }

  /** Compiles the segments' rules (cached by version); a rule that cannot be evaluated quarantines its segment. */
  private async compile(tx: pg.PoolClient, segments: readonly EvaluatedSegment[]) {
    const live = new Map<number, { segment: EvaluatedSegment; program: CompiledSegment }>();
    for (const segment of segments) {
      try {
        live.set(segment.id, { segment, program: this.compiled.compile(segment.id, segment.version, segment.rule) });
      } catch (error) {
        if (!(error instanceof RuleEvaluationError)) throw error;
        const message = `The rule could not be evaluated and the segment is paused until it is changed or recomputed: ${error.message}`;
        await this.deps.evaluations.quarantine(tx, segment.id, message);
        this.deps.logger.error({ err: error, segmentId: segment.id, version: segment.version }, 'segment quarantined: its rule fails at run time');
      }
    }
    return live;
  }

  /** Grows the backlog lane while batches are quick and full, shrinks it when they are slow. */
  private adapt(report: BatchReport, oldestLimit: number): void {
    const max = this.options.maxBacklogBatch ?? 20_000;
    if (report.ms > 2 * BATCH_TARGET_MS) this.backlogBatch = Math.max(250, Math.floor(this.backlogBatch / 2));
    else if (report.ms < BATCH_TARGET_MS && report.changes >= oldestLimit) this.backlogBatch = Math.min(max, this.backlogBatch * 2);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
  }
}

/** Milliseconds since the last lap. */
function stopwatch() {
  const started = Date.now();
  let last = started;
  return {
    started,
    lap(): number {
      const now = Date.now();
      const ms = now - last;
      last = now;
      return ms;
    },
  };
}

/** What one customer's changes ask for: the segments to evaluate, and whether any change was data (event) rather than time. */
interface WantedEvaluation {
  segments: Set<number>;
  cause: EvaluationCause;
}

/** The batch's customers in slices of about `budget` evaluations (at least one customer each). */
function* slices(wanted: ReadonlyMap<string, WantedEvaluation>, live: ReadonlyMap<number, unknown>, budget: number) {
  let slice: Array<[string, WantedEvaluation]> = [];
  let evaluations = 0;
  for (const entry of wanted) {
    let count = 0;
    for (const id of entry[1].segments) if (live.has(id)) count++;
    if (slice.length > 0 && evaluations + count > budget) {
      yield slice;
      slice = [];
      evaluations = 0;
    }
    slice.push(entry);
    evaluations += count;
  }
  if (slice.length > 0) yield slice;
}

/** Per customer, the segments their changes can affect, and whether any change was data (event) rather than time. */
function segmentsPerCustomer(changes: readonly CustomerChange[], index: RuleIndex, asOf: Date): Map<string, WantedEvaluation> {
  const wanted = new Map<string, WantedEvaluation>();
  const asOfMicros = micros(asOf);
  for (const change of changes) {
    let entry = wanted.get(change.customerId);
    if (!entry) wanted.set(change.customerId, (entry = { segments: new Set(), cause: 'schedule' }));
    let affected: Set<number>;
    if (change.segmentIds) affected = index.withDependents(change.segmentIds);
    else if (change.fields) affected = index.affectedByFields(change.fields);
    else {
      // Orders older than every window of a segment cannot change it (a backfill, an old order updated).
      const time = change.newestOrderMicros === null ? undefined : { newestOrderMicros: change.newestOrderMicros, asOfMicros };
      affected = index.affectedSegments(change.storeIds, time);
    }
    for (const id of affected) entry.segments.add(id);
    // Time maintenance names segments and no stores; a data change names its stores or fields (no stores for a STATIC segment's inputs).
    if (!change.segmentIds || change.storeIds) entry.cause = 'event';
  }
  return wanted;
}
