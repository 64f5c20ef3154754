import { describe, expect, it } from 'vitest';
import type { SegmentRecord } from '../../src/stores/postgres/segment-repository.js';
import { SegmentCatalog, type SegmentSource } from '../../src/stores/segment-catalog.js';

const segment = (id: number, name = `s${id}`): SegmentRecord => ({
  id,
  name,
  description: null,
  status: 'ACTIVE',
  size: 0,
  createdAt: new Date(0),
  updatedAt: new Date(0),
  lastComputedAt: null,
  kind: 'STATIC',
  rule: null,
  version: 1,
  refreshEveryMinutes: null,
  lastComputeError: null,
});

/** An in-memory SegmentSource that records what it was asked for. */
class TableSource implements SegmentSource {
  readonly calls: number[][] = [];
  release: (() => void) | null = null;
  gate: Promise<void> | null = null;
  constructor(public rows: Map<number, SegmentRecord>) {}
  async findByIds(ids: readonly number[]) {
    this.calls.push([...ids]);
    // Read first, answer later: what a query in flight sees.
    const found = ids.flatMap((id) => (this.rows.has(id) ? [this.rows.get(id)!] : []));
    if (this.gate) await this.gate;
    return found;
  }
}

describe('SegmentCatalog', () => {
  it('reads misses once, in one call, and then serves from memory', async () => {
    const source = new TableSource(new Map([[1, segment(1)], [2, segment(2)]]));
    const catalog = new SegmentCatalog(source);
    expect([...(await catalog.getMany([1, 2, 2])).keys()]).toEqual([1, 2]);
    expect([...(await catalog.getMany([2, 1])).keys()].sort()).toEqual([1, 2]);
    expect(source.calls).toEqual([[1, 2]]);
  });

  it('remembers unknown ids as absent', async () => {
    const source = new TableSource(new Map());
    const catalog = new SegmentCatalog(source);
    expect(await catalog.get(7)).toBeNull();
    expect(await catalog.get(7)).toBeNull();
    expect(source.calls).toEqual([[7]]);
  });

  it('re-reads an invalidated id and only that one', async () => {
    const source = new TableSource(new Map([[1, segment(1)], [2, segment(2)]]));
    const catalog = new SegmentCatalog(source);
    await catalog.getMany([1, 2]);
    source.rows.set(1, segment(1, 'renamed'));
    catalog.invalidate([1]);
    expect((await catalog.get(1))?.name).toBe('renamed');
    await catalog.get(2);
    expect(source.calls).toEqual([[1, 2], [1]]);
  });

  it('re-reads everything after clear', async () => {
    const source = new TableSource(new Map([[1, segment(1)]]));
    const catalog = new SegmentCatalog(source);
    await catalog.get(1);
    catalog.clear();
    await catalog.get(1);
    expect(source.calls).toEqual([[1], [1]]);
  });

  it('does not cache a row read before an invalidation that raced it', async () => {
    const source = new TableSource(new Map([[1, segment(1, 'old')]]));
    const catalog = new SegmentCatalog(source);
    source.gate = new Promise((resolve) => (source.release = resolve));
    const inFlight = catalog.get(1);
    source.rows.set(1, segment(1, 'new'));
    catalog.invalidate([1]);
    source.release!();
    expect((await inFlight)?.name).toBe('old');
    source.gate = null;
    expect((await catalog.get(1))?.name).toBe('new');
  });
});
