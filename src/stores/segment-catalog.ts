import { LRUCache } from 'lru-cache';
import type { SegmentRecord } from './postgres/segment-repository.js';

/** Where the catalog reads segments it does not hold yet. */
export interface SegmentSource {
  findByIds(ids: readonly number[]): Promise<SegmentRecord[]>;
}

export interface SegmentCatalogOptions {
  /** Most segments held; the least recently used go first. @defaultValue 10000 */
  maxEntries?: number;
  /** How long an id found to be unknown is remembered as such, in ms. @defaultValue 5000 */
  missTtlMs?: number;
}

// Stands for "no such segment" in the cache (lru-cache holds no null).
const MISSING = Symbol('missing');

/**
 * An in-process cache of segment definitions, so that serving memberships
 * costs no Postgres query once warm. Entries are dropped when a segment changes
 * (the caller wires `invalidate` to the SegmentChangeChannel) and all at once
 * when the change feed may have missed something (`clear`).
 *
 * Bounded (LRU), so that callers asking for many ids cannot grow it without
 * limit. Unknown ids are remembered as absent for a few seconds: a stale
 * membership pointing at a deleted segment must not cost a query on every
 * read, and a segment created elsewhere must not stay unknown for long.
 */
export class SegmentCatalog {
  private readonly entries: LRUCache<number, SegmentRecord | typeof MISSING>;
  private readonly missTtlMs: number;
  // Bumped by every invalidation; a load that started before a bump may have
  // read a stale row and must not be cached.
  private epoch = 0;

  constructor(
    private readonly source: SegmentSource,
    options: SegmentCatalogOptions = {},
  ) {
    this.entries = new LRUCache({ max: options.maxEntries ?? 10_000 });
    this.missTtlMs = options.missTtlMs ?? 5000;
  }

  /** The known segments among `ids`, by id. Misses are read in one query. */
  async getMany(ids: Iterable<number>): Promise<Map<number, SegmentRecord>> {
    const found = new Map<number, SegmentRecord>();
    const missing: number[] = [];
    for (const id of new Set(ids)) {
      const entry = this.entries.get(id);
      if (entry === undefined) missing.push(id);
      else if (entry !== MISSING) found.set(id, entry);
    }
    if (missing.length === 0) return found;

    const epoch = this.epoch;
    const rows = await this.source.findByIds(missing);
    const cacheable = epoch === this.epoch;
    const loaded = new Map(rows.map((row) => [row.id, row]));
    for (const id of missing) {
      const row = loaded.get(id);
      if (cacheable) this.entries.set(id, row ?? MISSING, row ? {} : { ttl: this.missTtlMs });
      if (row) found.set(id, row);
    }
    return found;
  }

  async get(id: number): Promise<SegmentRecord | null> {
    return (await this.getMany([id])).get(id) ?? null;
  }

  invalidate(ids: readonly number[]): void {
    this.epoch++;
    for (const id of ids) this.entries.delete(id);
  }

  clear(): void {
    this.epoch++;
    this.entries.clear();
  }
}
