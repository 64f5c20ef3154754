import { performance } from 'node:perf_hooks';
import CircuitBreaker from 'opossum';
import type { Logger } from '../platform/logger.js';
import { membershipBatchSize, servingReads, timeStoreCall } from '../platform/metrics/metrics.js';
import type { MembershipRepository } from '../stores/postgres/membership-repository.js';
import type { MembershipServingStore, MembershipSnapshot, ServedMemberships } from '../stores/redis/serving-store.js';

/** Which store answered a membership read; NONE: neither did, and the answers are the safe defaults. */
export type MembershipSource = 'REDIS' | 'POSTGRES' | 'NONE';

export interface MembershipRead {
  source: MembershipSource;
  /** In the order of the customer ids asked for. */
  snapshots: MembershipSnapshot[];
  /** Every change committed before this time is reflected; null when unknown. */
  upToDateAt: Date | null;
}

export interface MembershipReaderOptions {
  /** How long a Redis read may take before the same batch is read from Postgres, in ms. @defaultValue 50 */
  redisTimeoutMs: number;
  /** How long the breaker stays open before one request tries Redis again, in ms. @defaultValue 5000 */
  breakerResetMs: number;
  /** How long the Postgres fallback may take before the defaults are served, in ms. @defaultValue 1000 */
  postgresTimeoutMs: number;
}

/** The serving keys are missing (never built, or Redis lost them): Redis cannot answer truthfully. */
export class ServingStoreNotBuiltError extends Error {
  override name = 'ServingStoreNotBuiltError';
  constructor() {
    super('the Redis serving keys are not built');
  }
}

// The breaker opens when at least half of the last 10 s of reads failed,
// once there were at least this many; one failure is noise, a run is an outage.
const BREAKER_MIN_READS = 5;
const BREAKER_WINDOW_MS = 10_000;
// A store that keeps failing is logged once in this many ms, not once per request.
const LOG_EVERY_MS = 1000;
// See settleWithin: above this share of a read's wait spent running JavaScript, the process is the bottleneck.
const BUSY_UTILIZATION = 0.8;
const BUSY_EXTRA_WAIT_MS = 1000;

/**
 * The serving path's read of customers' memberships: Redis first, through a
 * circuit breaker (opossum) with a short timeout; the same batch from
 * Postgres, in one query, when Redis is slow, down, refusing or unbuilt, and
 * at once while the breaker is open; the safe defaults (no memberships) only
 * when both fail. Never rejects, so that no membership field can take the
 * rest of a customer's page down with it. Redis is tried again by one request
 * after `breakerResetMs`, and serving returns to it when that read succeeds.
 *
 * While an import's changes are being applied to Redis, the segments it
 * replaces come from Postgres (one more query, for those segments only), so
 * that a page of customers shows the old members or the new ones, never some
 * of each. If that query fails, Redis' own answer is served.
 */
export class MembershipReader {
  private readonly breaker: CircuitBreaker<[readonly string[]], ServedMemberships>;
  private lastLogged = 0;

  constructor(
    redis: Pick<MembershipServingStore, 'readMany'>,
    private readonly postgres: Pick<MembershipRepository, 'readMany'>,
    private readonly options: MembershipReaderOptions,
    private readonly logger: Logger,
  ) {
    this.breaker = new CircuitBreaker(
      async (customerIds: readonly string[]): Promise<ServedMemberships> => {
        const served = await timeStoreCall('redis', 'serving_read', () => settleWithin(redis.readMany(customerIds), options.redisTimeoutMs, 'Redis'));
        if (!served.built) throw new ServingStoreNotBuiltError();
        return served;
      },
      {
        // settleWithin times the read instead: opossum's timer would also count time the event loop was busy.
        timeout: false,
        resetTimeout: options.breakerResetMs,
        errorThresholdPercentage: 50,
        volumeThreshold: BREAKER_MIN_READS,
        rollingCountTimeout: BREAKER_WINDOW_MS,
      },
    );
    this.breaker.on('open', () => logger.warn('membership reads: Redis breaker open, serving from Postgres'));
    this.breaker.on('halfOpen', () => logger.info('membership reads: trying Redis again'));
    this.breaker.on('close', () => logger.info('membership reads: Redis breaker closed, serving from Redis'));
  }

  /** Whether reads go straight to Postgres now. */
  get breakerOpen(): boolean {
    return this.breaker.opened;
  }

  async readMany(customerIds: readonly string[]): Promise<MembershipRead> {
    membershipBatchSize.observe(customerIds.length);
    const read = await this.read(customerIds);
    servingReads.inc({ source: read.source }, customerIds.length);
    return read;
  }

  private async read(customerIds: readonly string[]): Promise<MembershipRead> {
    let redisError: unknown;
    try {
      const served = await this.breaker.fire(customerIds);
      const read: MembershipRead = { source: 'REDIS', snapshots: served.snapshots, upToDateAt: served.upToDateAt };
      return served.replacing.length === 0 ? read : await this.withReplacedSegments(customerIds, read, served.replacing);
    } catch (error) {
      redisError = error;
    }
    try {
      // The query's own timeout does not cover waiting for a connection (a stalled Postgres accepts none): this does.
      const read = this.postgres.readMany(customerIds, this.options.postgresTimeoutMs);
      const { snapshots, upToDateAt } = await timeStoreCall('postgres', 'fallback_read', () =>
        settleWithin(read, this.options.postgresTimeoutMs, 'Postgres'),
      );
      return { source: 'POSTGRES', snapshots, upToDateAt };
    } catch (postgresError) {
      this.logFailure(redisError, postgresError);
      return { source: 'NONE', snapshots: customerIds.map(() => new Map()), upToDateAt: null };
    }
  }

  /** `read` with the segments in `replacing` taken from Postgres; `read` itself when Postgres cannot answer in time. */
  private async withReplacedSegments(customerIds: readonly string[], read: MembershipRead, replacing: readonly number[]): Promise<MembershipRead> {
    let fromPostgres: Array<Map<number, number>>;
    try {
      const query = this.postgres.readMany(customerIds, this.options.postgresTimeoutMs, replacing);
      ({ snapshots: fromPostgres } = await timeStoreCall('postgres', 'replacing_read', () => settleWithin(query, this.options.postgresTimeoutMs, 'Postgres')));
    } catch (error) {
      this.logReplacingFailure(error);
      return read;
    }
    const snapshots = read.snapshots.map((served, i) => {
      const snapshot = new Map(served);
      for (const segmentId of replacing) snapshot.delete(segmentId);
      for (const [segmentId, since] of fromPostgres[i]!) snapshot.set(segmentId, since);
      return snapshot;
    });
    return { ...read, snapshots };
  }

  /** Stops the breaker's timers. */
  close(): void {
    this.breaker.shutdown();
  }

  private logReplacingFailure(error: unknown): void {
    if (Date.now() - this.lastLogged < LOG_EVERY_MS) return;
    this.lastLogged = Date.now();
    this.logger.warn({ err: error }, 'membership reads: Postgres did not answer for segments being replaced; serving them from Redis');
  }

  private logFailure(redisError: unknown, postgresError: unknown): void {
    if (Date.now() - this.lastLogged < LOG_EVERY_MS) return;
    this.lastLogged = Date.now();
    this.logger.error({ err: postgresError, redisError }, 'membership reads: Redis and Postgres both failed, serving the defaults');
  }
}

/**
 * `work`, or a rejection when it has not settled `ms` after the call, unless
 * this process itself was the reason: a process busy with many requests
 * answers its store replies late, and falling back to the costlier read then
 * would only make it busier. So when the deadline passes while the event loop
 * was mostly busy (over BUSY_UTILIZATION of the wait), the read gets another
 * `ms`, up to BUSY_EXTRA_WAIT_MS beyond `ms` in all. A stalled store leaves the loop
 * idle, and fails the read on time. Deadlines are checked in a `setImmediate`,
 * after the I/O that arrived by then has been handled.
 */
function settleWithin<T>(work: Promise<T>, ms: number, store: string): Promise<T> {
  const started = performance.now();
  const startedLoop = performance.eventLoopUtilization();
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout;
    const check = () => {
      if (settled) return;
      const busy = performance.eventLoopUtilization(startedLoop).utilization > BUSY_UTILIZATION;
      if (busy && performance.now() - started < ms + BUSY_EXTRA_WAIT_MS) {
        timer = setTimeout(() => setImmediate(check), ms);
        return;
      }
      settled = true;
      reject(new Error(`${store} did not answer within ${Math.round(performance.now() - started)} ms`));
    };
    timer = setTimeout(() => setImmediate(check), ms);
    work.then(
      (value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
