import type { Redis } from 'ioredis';
import type { Logger } from '../src/logger.js';
import { RuleIndex } from '../src/rules/rule-index.js';
import type { Stores } from '../src/stores/create-stores.js';

// Changes often come in bursts (an admin editing several segments): reload once.
const RELOAD_DELAY_MS = 100;

/**
 * The workers' RuleIndex of live RULE segments, rebuilt from Postgres when a
 * segment change is announced (and when the subscription reconnects). Between
 * an announcement and the reload, events use the previous index; the full
 * recompute that every rule change triggers covers that window.
 */
export class LiveRuleIndex {
  private index = new RuleIndex([]);
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => Promise<void>) | undefined;

  constructor(
    private readonly stores: Stores,
    private readonly subscriber: Redis,
    private readonly logger: Logger,
  ) {}

  current = (): RuleIndex => this.index;

  async start(): Promise<void> {
    await this.reload();
    this.unsubscribe = await this.stores.segmentChanges.subscribe(
      this.subscriber,
      () => this.scheduleReload(),
      () => this.scheduleReload(),
    );
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    await this.unsubscribe?.().catch(() => undefined);
  }

  private scheduleReload(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.reload().catch((error: unknown) => this.logger.error({ err: error }, 'rule index reload failed'));
    }, RELOAD_DELAY_MS);
  }

  private async reload(): Promise<void> {
    this.index = new RuleIndex(await this.stores.computations.liveRuleSegments());
  }
}
