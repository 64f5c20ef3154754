import type pg from 'pg';
import type { Logger } from '../src/logger.js';
import { observeEvaluation } from '../src/metrics/order-lag.js';
import { orderConditionCount, type Rule } from '../src/rules/rule.js';
import type { RuleIndex } from '../src/rules/rule-index.js';
import type { ChangeOutboxRepository, CustomerChange } from '../src/stores/postgres/change-outbox-repository.js';
import type {
  CustomerEvaluationRepository,
  EvaluatedSegment,
  EvaluationCause,
  EvaluationLevel,
  LevelOutcome,
} from '../src/stores/postgres/customer-evaluation-repository.js';
import { isRuleFailure } from '../src/stores/postgres/segment-computation-repository.js';

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
}

export interface BatchReport {
  changes: number;
  customers: number;
  /** Distinct segments evaluated. */
  segments: number;
  entered: number;
  left: number;
  ms: number;
  /** Age of the oldest change in the batch, from its commit to its evaluation. */
  maxLagMs: number;
}

const BATCH_TARGET_MS = 500;
// Columns of one evaluation statement: a column per segment and at most one per
// condition that reads orders. Postgres allows 1,664; each statement reads its
// customers' orders once for all its segments, so wider is cheaper.
const COLUMNS_PER_STATEMENT = 1200;

/** Splits segments into statements of at most COLUMNS_PER_STATEMENT columns. */
function statementGroups(segments: readonly EvaluatedSegment[]): EvaluatedSegment[][] {
  const groups: EvaluatedSegment[][] = [];
  let current: EvaluatedSegment[] = [];
  let columns = 0;
  for (const segment of segments) {
    const width = 1 + orderConditionCount(segment.rule);
    if (current.length > 0 && columns + width > COLUMNS_PER_STATEMENT) {
      groups.push(current);
      current = [];
      columns = 0;
    }
    current.push(segment);
    columns += width;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/**
 * The event path: drains the change outbox in batches, evaluates every
 * customer of a batch against the segments their changes can affect (one
 * statement per dependency level), and applies and records the differences
 * in the same transaction as the claim, so a crash leaves the changes to be
 * claimed again. One evaluator per deployment holds the evaluator lock, so two
 * evaluations of one customer never race; the others stand by.
 *
 * Fresh changes come first in every batch, so an order never waits behind a
 * backlog (a bulk load, a restart) for more than one batch; the backlog lane
 * grows while it drains quickly. A segment whose rule fails at run time is
 * found by bisection and quarantined; the others are evaluated.
 */
export class ChangeEvaluator {
  private client: pg.PoolClient | null = null;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private backlogBatch: number;
  private readonly rules = new Map<string, Rule>();

  constructor(
    private readonly deps: {
      outbox: Pick<ChangeOutboxRepository, 'claim'>;
      evaluations: CustomerEvaluationRepository;
      ruleIndex: () => RuleIndex;
      /** Called after a batch changed memberships (publication). */
      onChanged: () => void;
      onBatch?: (report: BatchReport) => void;
      logger: Logger;
    },
    private readonly options: ChangeEvaluatorOptions = {},
  ) {
    this.backlogBatch = options.backlogBatch ?? 2000;
  }

  start(): void {
    this.loop = this.run();
  }

  /** Finishes the batch in progress, then lets the evaluator lock go. */
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
        if (!this.client) {
          this.client = await this.deps.evaluations.acquireEvaluator();
          if (!this.client) {
            await this.sleep(1000); // another process evaluates; stand by
            continue;
          }
        }
        const report = await this.runBatch(this.client);
        if (report === null) await this.sleep(pollMs);
      } catch (error) {
        this.deps.logger.error({ err: error }, 'change evaluation failed; retrying');
        if (this.client) {
          this.client.release(true);
          this.client = null;
        }
        await this.sleep(1000);
      }
    }
    if (this.client) await this.deps.evaluations.releaseEvaluator(this.client);
    this.client = null;
  }

  /** One batch in one transaction; null when the outbox was empty. */
  async runBatch(client: pg.PoolClient): Promise<BatchReport | null> {
    const started = Date.now();
    const limits = {
      fresh: this.options.freshBatch ?? 1000,
      oldest: this.backlogBatch,
      freshWindowMs: this.options.freshWindowMs ?? 2000,
    };
    let evaluated: { asOf: Date; changes: CustomerChange[] } | undefined;
    const report = await this.deps.evaluations.transaction(client, async (tx) => {
      const changes = await this.deps.outbox.claim(tx, limits);
      if (changes.length === 0) return null;
      const asOf = await this.deps.evaluations.clock(tx);
      evaluated = { asOf, changes };
      const index = this.deps.ruleIndex();
      const wanted = this.segmentsPerCustomer(changes, index);
      const segmentIds = new Set<number>();
      for (const { segments } of wanted.values()) for (const id of segments) segmentIds.add(id);
      const live = new Map((await this.deps.evaluations.liveSegments(tx, [...segmentIds], this.rules)).map((s) => [s.id, s]));
      // Per cause, per segment: the customers to evaluate it for.
      const scopes = { event: new Map<number, string[]>(), schedule: new Map<number, string[]>() };
      for (const [customerId, { segments, cause }] of wanted) {
        for (const id of segments) {
          if (!live.has(id)) continue;
          let list = scopes[cause].get(id);
          if (!list) scopes[cause].set(id, (list = []));
          list.push(customerId);
        }
      }
      const total: LevelOutcome = { entered: 0, left: 0 };
      for (const level of index.byLevel(live.keys())) {
        for (const cause of ['event', 'schedule'] as const) {
          const segments = level.filter((id) => scopes[cause].has(id)).map((id) => live.get(id)!);
          for (const group of statementGroups(segments)) {
            const outcome = await this.evaluate(tx, { segments: group, customers: group.map((s) => scopes[cause].get(s.id)!) }, asOf, cause);
            total.entered += outcome.entered;
            total.left += outcome.left;
          }
        }
      }
      const oldest = Math.min(...changes.map((c) => c.recordedAt.getTime()));
      return {
        changes: changes.length,
        customers: wanted.size,
        segments: live.size,
        ...total,
        ms: 0,
        maxLagMs: asOf.getTime() - oldest,
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

  /** Per customer, the segments their changes can affect, and whether any change was data (event) rather than time. */
  private segmentsPerCustomer(changes: readonly CustomerChange[], index: RuleIndex) {
    const wanted = new Map<string, { segments: Set<number>; cause: EvaluationCause }>();
    for (const change of changes) {
      let entry = wanted.get(change.customerId);
      if (!entry) wanted.set(change.customerId, (entry = { segments: new Set(), cause: 'schedule' }));
      const affected = change.segmentIds ? index.withDependents(change.segmentIds) : index.affectedSegments(change.storeIds);
      for (const id of affected) entry.segments.add(id);
      // Time maintenance names segments and no stores; a data change names its stores (none for a STATIC segment's inputs).
      if (!change.segmentIds || change.storeIds) entry.cause = 'event';
    }
    return wanted;
  }

  /**
   * Evaluates a level; when a rule fails at run time, finds it by bisection
   * (each try in a savepoint), quarantines it and evaluates the others.
   */
  private async evaluate(tx: pg.PoolClient, level: EvaluationLevel, asOf: Date, cause: EvaluationCause): Promise<LevelOutcome> {
    await tx.query('SAVEPOINT level');
    try {
      const outcome = await this.deps.evaluations.evaluateLevel(tx, level, asOf, cause);
      await tx.query('RELEASE SAVEPOINT level');
      return outcome;
    } catch (error) {
      if (!isRuleFailure(error)) throw error;
      await tx.query('ROLLBACK TO SAVEPOINT level');
      await tx.query('RELEASE SAVEPOINT level');
      if (level.segments.length === 1) {
        const segment: EvaluatedSegment = level.segments[0]!;
        const message = `The rule could not be evaluated and the segment is paused until it is changed or recomputed: ${error.message}`;
        await this.deps.evaluations.quarantine(tx, segment.id, message);
        this.deps.logger.error({ err: error, segmentId: segment.id, version: segment.version }, 'segment quarantined: its rule fails at run time');
        return { entered: 0, left: 0 };
      }
      const half = Math.ceil(level.segments.length / 2);
      const first = await this.evaluate(tx, { segments: level.segments.slice(0, half), customers: level.customers.slice(0, half) }, asOf, cause);
      const second = await this.evaluate(tx, { segments: level.segments.slice(half), customers: level.customers.slice(half) }, asOf, cause);
      return { entered: first.entered + second.entered, left: first.left + second.left };
    }
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
