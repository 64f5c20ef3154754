import type pg from 'pg';
import type { Logger } from './logger.js';
import { ReplicationHeartbeat } from '../stores/postgres/replication-heartbeat.js';

/** What the reads sent to a replica need of a pool. */
export type ReadPool = Pick<pg.Pool, 'query'>;

export interface ReadReplicaOptions {
  /**
   * A replica further behind than this (the age of the newest heartbeat it
   * shows) is not read; the primary answers instead (config REPLICA_MAX_LAG_MS).
   * @defaultValue 5000
   */
  maxLagMs?: number;
  /** How often the lag is measured, in ms. @defaultValue 1000 */
  checkEveryMs?: number;
}

export const DEFAULT_REPLICA_MAX_LAG_MS = 5000;

/**
 * A streaming replica of the primary, and whether reads may go to it now:
 * its lag is measured every `checkEveryMs` from the heartbeat the workers
 * write on the primary, and a replica that does not answer, or is more than
 * `maxLagMs` behind, is left alone until a check finds it back. Until the
 * first check, reads go to the primary.
 */
export class ReadReplica {
  private usable = false;
  private readonly heartbeat: ReplicationHeartbeat;
  private readonly maxLagMs: number;
  private readonly timer: NodeJS.Timeout;
  private checking: Promise<void> | undefined;

  constructor(
    private readonly replica: pg.Pool,
    private readonly logger: Logger,
    options: ReadReplicaOptions = {},
  ) {
    this.heartbeat = new ReplicationHeartbeat(replica);
    this.maxLagMs = options.maxLagMs ?? DEFAULT_REPLICA_MAX_LAG_MS;
    this.timer = setInterval(() => void this.check(), options.checkEveryMs ?? 1000);
    this.timer.unref();
    void this.check();
  }

  /** Whether reads go to the replica now. */
  get inUse(): boolean {
    return this.usable;
  }

  /** Measures the lag now (also every `checkEveryMs`). */
  check(): Promise<void> {
    this.checking ??= this.heartbeat.lagMs().then(
      (lag) => this.settle(lag),
      (error: unknown) => this.settle(null, error),
    ).finally(() => (this.checking = undefined));
    return this.checking;
  }

  /**
   * Reads sent to `onReplica` (a pool on the replica, by default the
   * replica's own) while the replica is in use, else to `primary`. A read the
   * replica fails to answer (it went away; see `unanswered`) is sent to the
   * primary at once, and the replica is checked again.
   */
  route(primary: ReadPool, onReplica: ReadPool = this.replica): ReadPool {
    const send = (pool: ReadPool, args: unknown[]) => (pool.query as (...a: unknown[]) => Promise<unknown>)(...args);
    const query = async (...args: unknown[]) => {
      if (!this.usable) return send(primary, args);
      try {
        return await send(onReplica, args);
      } catch (error) {
        if (!unanswered(error)) throw error;
        this.usable = false;
        void this.check();
        return send(primary, args);
      }
    };
    return { query: query as ReadPool['query'] };
  }

  close(): void {
    clearInterval(this.timer);
  }

  private settle(lag: number | null, error?: unknown): void {
    const usable = lag !== null && lag <= this.maxLagMs;
    if (usable !== this.usable) {
      if (usable) this.logger.info({ lagMs: lag }, 'read replica in use');
      else if (lag === null) this.logger.warn({ err: error }, 'read replica does not answer: reading the primary');
      else this.logger.warn({ lagMs: lag, maxLagMs: this.maxLagMs }, 'read replica is behind: reading the primary');
    }
    this.usable = usable;
  }
}

// Errors that say the replica did not answer the statement, rather than that
// the statement is wrong or slow: a connection refused or lost, a pool that
// could not connect in time, a server shutting down, a statement cancelled by
// a conflict with recovery. A statement timeout is an answer: the primary
// would take as long.
function unanswered(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (code.startsWith('08') || code.startsWith('57P') || code === '40001' || /^E[A-Z]+$/.test(code))) return true;
  return typeof message === 'string' && /Connection terminated|trying to connect|connection error/i.test(message);
}
