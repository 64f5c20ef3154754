import type { SegmentRecord } from './postgres/segment-repository.js';

/** Where the catalog reads segments it does not hold yet. */
export interface SegmentSource {
  findByIds(ids: readonly number[]): Promise<SegmentRecord[]>;
}

/**
 * An in-process cache of segment definitions, so that serving memberships
 * costs no Postgres query once warm. Entries are dropped when a segment changes
 * (the caller wires `invalidate` to the SegmentChangeChannel) and all at once
 * when the change feed may have missed something (`clear`).
 *
 * Unknown ids are remembered as absent too: a stale membership pointing at a
 * deleted segment must not cost a query on every read.
 */
export class SegmentCatalog {
  private readonly entries = new Map<number, SegmentRecord | null>();
  // Bumped by every invalidation; a load that started before a bump may have
  // read a stale row and must not be cached.
  private epoch = 0;

  constructor(private readonly source: SegmentSource) {}

  /** The known segments among `ids`, by id. Misses are read in one query. */
  async getMany(ids: Iterable<number>): Promise<Map<number, SegmentRecord>> {
    const found = new Map<number, SegmentRecord>();
    const missing: number[] = [];
    for (const id of new Set(ids)) {
      const entry = this.entries.get(id);
      if (entry === undefined) missing.push(id);
      else if (entry !== null) found.set(id, entry);
    }
    if (missing.length === 0) return found;

    const epoch = this.epoch;
    const rows = await this.source.findByIds(missing);
    const cacheable = epoch === this.epoch;
    const loaded = new Map(rows.map((row) => [row.id, row]));
    for (const id of missing) {
      const row = loaded.get(id) ?? null;
      if (cacheable) this.entries.set(id, row);
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
