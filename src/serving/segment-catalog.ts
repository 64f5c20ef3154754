import { LRUCache } from 'lru-cache';
import type { SegmentRecord } from '../stores/postgres/segment-repository.js';

/** Where the catalog reads segments it does not hold yet. */
export interface SegmentSource {
  findByIds(ids: readonly number[]): Promise<SegmentRecord[]>;
}

export interface SegmentCatalogOptions {
  /**
   * Most ids held that are not live segments (archived or unknown), the least
   * recently used going first, so that asking for many such ids cannot grow
   * the catalog. Live segments are all held, however many there are.
   * @defaultValue 10000
   */
  maxNonLiveEntries?: number;
  /** How long an id found to be unknown is remembered as such, in ms. @defaultValue 5000 */
  missTtlMs?: number;
  /**
   * How long a segment is served from memory before it is read again, in ms:
   * the bound on staleness when a change announcement was missed. The stale
   * copy is still served while the new one is read in the background, so the
   * read path never waits for it. @defaultValue 5000
   */
  ttlMs?: number;
  /** The clock, in ms. @defaultValue Date.now */
  now?: () => number;
}

interface Entry {
  segment: SegmentRecord;
  loadedAt: number;
}

// Stands for "no such segment" in the cache (lru-cache holds no null).
const MISSING = Symbol('missing');

/**
 * An in-process cache of segment definitions, so that serving memberships
 * costs no Postgres query once warm. Entries are dropped when a segment changes
 * (the caller wires `invalidate` to the SegmentChangeChannel) and all at once
 * when the change feed may have missed something (`clear`). Entries also
 * expire after `ttlMs`, so that an announcement lost on the way (Redis
 * pub/sub delivers at most once) heals within seconds.
 *
 * Every live segment read once stays (issue 15: a read whose memberships span
 * more than any fixed bound must still be served from memory). That costs
 * what its record weighs, about 1 KB with a campaign rule, and live segments are only as many as admins created.
 * Archived and unknown ids, which any caller can name, share a bounded LRU
 * instead. Unknown ids are remembered as absent for a few seconds:
 * a stale membership pointing at a deleted segment must not cost a query on
 * every read, and a segment created elsewhere must not stay unknown for long.
 */
export class SegmentCatalog {
  private readonly live = new Map<number, Entry>();
  private readonly nonLive: LRUCache<number, Entry | typeof MISSING>;
  private readonly missTtlMs: number;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private refreshing: Promise<void> | undefined;
  // Bumped by every invalidation; a load that started before a bump may have
  // read a stale row and must not be cached.
  private epoch = 0;

  constructor(
    private readonly source: SegmentSource,
    options: SegmentCatalogOptions = {},
  ) {
    this.nonLive = new LRUCache({ max: options.maxNonLiveEntries ?? 10_000 });
    this.missTtlMs = options.missTtlMs ?? 5000;
    this.ttlMs = options.ttlMs ?? 5000;
    this.now = options.now ?? Date.now;
  }

  /**
   * The known segments among `ids`, by id. Misses are read in one query;
   * expired entries are served as they are and read again in the background.
   */
  async getMany(ids: Iterable<number>): Promise<Map<number, SegmentRecord>> {
    const found = new Map<number, SegmentRecord>();
    const missing: number[] = [];
    const expired: number[] = [];
    const now = this.now();
    for (const id of new Set(ids)) {
      const entry = this.live.get(id) ?? this.nonLive.get(id);
      if (entry === undefined) missing.push(id);
      else if (entry !== MISSING) {
        found.set(id, entry.segment);
        if (now - entry.loadedAt >= this.ttlMs) expired.push(id);
      }
    }
    if (expired.length > 0) this.refresh(expired);
    if (missing.length === 0) return found;
    for (const [id, segment] of await this.load(missing)) found.set(id, segment);
    return found;
  }

  /** Reads segments again without anyone waiting; one refresh at a time, and a failed one is retried by the next read. */
  private refresh(ids: number[]): void {
    this.refreshing ??= this.load(ids)
      .then(() => undefined, () => undefined)
      .finally(() => (this.refreshing = undefined));
  }

  private async load(ids: readonly number[]): Promise<Map<number, SegmentRecord>> {
    const epoch = this.epoch;
    const loadedAt = this.now();
    const rows = await this.source.findByIds(ids);
    const cacheable = epoch === this.epoch;
    const loaded = new Map(rows.map((row) => [row.id, row]));
    if (cacheable) {
      for (const id of ids) {
        const row = loaded.get(id);
        if (row?.status === 'ACTIVE') {
          this.live.set(id, { segment: row, loadedAt });
          this.nonLive.delete(id);
        } else {
          this.live.delete(id);
          this.nonLive.set(id, row ? { segment: row, loadedAt } : MISSING, row ? {} : { ttl: this.missTtlMs });
        }
      }
    }
    return loaded;
  }

  async get(id: number): Promise<SegmentRecord | null> {
    return (await this.getMany([id])).get(id) ?? null;
  }

  invalidate(ids: readonly number[]): void {
    this.epoch++;
    for (const id of ids) {
      this.live.delete(id);
      this.nonLive.delete(id);
    }
  }

  clear(): void {
    this.epoch++;
    this.live.clear();
    this.nonLive.clear();
  }
}
