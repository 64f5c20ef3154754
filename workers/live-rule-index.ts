import type { Redis } from 'ioredis';
import type { Logger } from '../src/logger.js';
import type { Rule } from '../src/rules/rule.js';
import { RuleIndex } from '../src/rules/rule-index.js';
import type { Stores } from '../src/stores/create-stores.js';

// Changes often come in bursts (an admin editing several segments): apply them together.
const RELOAD_DELAY_MS = 100;

/**
 * The workers' RuleIndex of live RULE segments. Definition changes re-read
 * only the segments named; a (re)connected subscription re-reads all, since
 * announcements may have been missed. Size-only changes (every recompute) are
 * ignored. Between an announcement and the reload, events use the previous
 * index; the full recompute that every rule change triggers covers that window.
 */
export class LiveRuleIndex {
  private rules = new Map<number, Rule>();
  private index = new RuleIndex([]);
  private pending = new Set<number>();
  private reloadAll = false;
  private timer: NodeJS.Timeout | undefined;
  // Reloads run one after another, so an older read never replaces a newer one.
  private applying: Promise<void> = Promise.resolve();
  private unsubscribe: (() => Promise<void>) | undefined;

  constructor(
    private readonly stores: Stores,
    private readonly subscriber: Redis,
    private readonly logger: Logger,
  ) {}

  current = (): RuleIndex => this.index;

  async start(): Promise<void> {
    await this.apply();
    this.unsubscribe = await this.stores.segmentChanges.subscribe(
      this.subscriber,
      (ids, kind) => {
        if (kind !== 'definition') return;
        for (const id of ids) this.pending.add(id);
        this.schedule();
      },
      () => {
        this.reloadAll = true;
        this.schedule();
      },
    );
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    await this.unsubscribe?.().catch(() => undefined);
    await this.applying;
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.applying = this.applying
        .then(() => this.apply())
        .catch((error: unknown) => this.logger.error({ err: error }, 'rule index reload failed'));
    }, RELOAD_DELAY_MS);
  }

  private async apply(): Promise<void> {
    const all = this.reloadAll || this.rules.size === 0;
    const ids = [...this.pending];
    this.reloadAll = false;
    this.pending.clear();
    if (all) {
      this.rules = new Map((await this.stores.computations.liveRuleSegments()).map((s) => [s.id, s.rule]));
    } else {
      if (ids.length === 0) return;
      const live = await this.stores.computations.liveRuleSegments(ids);
      for (const id of ids) this.rules.delete(id);
      for (const s of live) this.rules.set(s.id, s.rule);
    }
    this.index = new RuleIndex([...this.rules].map(([id, rule]) => ({ id, rule })));
  }
}
