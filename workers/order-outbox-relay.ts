import type pg from 'pg';
import { addOrdersCreated, type OrderEventsQueue } from '../src/jobs/order-events-queue.js';
import type { Logger } from '../src/logger.js';
import { ORDER_OUTBOX_CHANNEL, type OrderOutboxRepository } from '../src/stores/postgres/order-outbox-repository.js';

const BATCH = 1000;
// NOTIFY wakes the relay at once; the poll is the safety net for a missed
// notification (a dropped LISTEN connection) and for rows left by a crash.
const POLL_MS = 1000;

/**
 * Moves orders from the outbox (filled by the trigger on `orders`) into the
 * order-events queue. Rows are deleted only after the queue took them, so
 * orders written while no worker ran are relayed when one starts.
 */
export class OrderOutboxRelay {
  private listener: pg.PoolClient | undefined;
  private poll: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly outbox: OrderOutboxRepository,
    private readonly queue: OrderEventsQueue,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    this.listener = await this.pool.connect();
    this.listener.on('notification', () => this.wake());
    this.listener.on('error', (error) => this.logger.error({ err: error }, 'outbox listener error'));
    await this.listener.query(`LISTEN ${ORDER_OUTBOX_CHANNEL}`);
    this.poll = setInterval(() => this.wake(), POLL_MS);
    this.wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.poll);
    await this.running;
    if (this.listener) {
      await this.listener.query(`UNLISTEN ${ORDER_OUTBOX_CHANNEL}`).catch(() => undefined);
      this.listener.release();
    }
  }

  /** Drains now, or right after the drain in progress. */
  private wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain()
      .catch((error: unknown) => this.logger.error({ err: error }, 'outbox relay failed; retrying at the next poll'))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  private async drain(): Promise<void> {
    let relayed: number;
    do {
      relayed = await this.outbox.drain(BATCH, (orders) =>
        addOrdersCreated(this.queue, orders.map((o) => ({ type: 'order.created', customerId: o.customerId, orderId: o.orderId }))),
      );
    } while (relayed === BATCH && !this.stopped);
  }
}
