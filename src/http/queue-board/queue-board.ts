import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Queue, type ConnectionOptions } from 'bullmq';
import type { RequestHandler } from 'express';
import { MAINTENANCE_QUEUE } from '../../jobs/maintenance-queue.js';
import { ORDER_EVENTS_QUEUE } from '../../jobs/order-events-queue.js';
import { RECOMPUTE_QUEUE } from '../../jobs/recompute-queue.js';
import type { Logger } from '../../platform/logger.js';
import type { BullPrefixes } from '../../jobs/bull-prefixes.js';

/** Where the board is served; its UI and API live under this path. */
export const QUEUE_BOARD_PATH = '/admin/queues';

/** Every queue of the service, as the board lists them. */
export const BOARD_QUEUES = [RECOMPUTE_QUEUE, ORDER_EVENTS_QUEUE, MAINTENANCE_QUEUE] as const;

export interface QueueBoardOptions {
  /** BullMQ's connection (`bullConnection`); with options, each queue opens its own when the board is first used. The caller closes it. */
  connection: ConnectionOptions;
  /** The queues' prefixes (`stores.keys`), the same the workers use. */
  keys: BullPrefixes;
  logger: Logger;
}

/**
 * Bull Board over every queue of the service, for the subgraph process only.
 * The queues are opened at the board's first request, not at start: a
 * subgraph nobody looks at through the board holds no extra Redis connection.
 * Authorization is not here but in front of it (queue-board-routes.ts).
 */
export class QueueBoard {
  private opened: { handler: RequestHandler; queues: Queue[] } | undefined;
  private closed = false;

  constructor(private readonly options: QueueBoardOptions) {}

  /** The board's Express handler, to mount at QUEUE_BOARD_PATH. */
  readonly handler: RequestHandler = (req, res, next) => {
    if (this.closed) {
      res.status(503).json({ errors: [{ message: 'The queue board is shutting down', extensions: { code: 'SERVICE_UNAVAILABLE' } }] });
      return;
    }
    this.opened ??= this.open();
    this.opened.handler(req, res, next);
  };

  /** Closes the queues the board opened, if it opened any. */
  async close(): Promise<void> {
    this.closed = true;
    const queues = this.opened?.queues ?? [];
    this.opened = undefined;
    await Promise.all(queues.map((queue) => queue.close()));
  }

  private open(): { handler: RequestHandler; queues: Queue[] } {
    const { connection, keys, logger } = this.options;
    const queues = BOARD_QUEUES.map((name) => {
      const queue = new Queue(name, { connection, prefix: keys.bullPrefix(name) });
      // An emitter without an error listener crashes the process; Redis being away is logged instead.
      queue.on('error', (err) => logger.warn({ err, queue: name }, 'queue board: Redis error'));
      return queue;
    });
    const serverAdapter = new ExpressAdapter().setBasePath(QUEUE_BOARD_PATH);
    createBullBoard({
      queues: queues.map((queue) => new BullMQAdapter(queue)),
      serverAdapter,
      options: { uiConfig: { boardTitle: 'Segments queues', miscLinks: [{ text: 'Session (sign out)', url: '/admin/sign-in' }] } },
    });
    return { handler: serverAdapter.getRouter() as RequestHandler, queues };
  }
}
