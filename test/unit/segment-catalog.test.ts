import { describe, expect, it } from 'vitest';
import type { SegmentRecord } from '../../src/stores/postgres/segment-repository.js';
import { SegmentCatalog, type SegmentSource } from '../../src/serving/segment-catalog.js';

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
  computeState: 'IDLE',
  stale: false,
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

  it('forgets unknown ids after missTtlMs, so a segment created since is found', async () => {
    const source = new TableSource(new Map());
    const catalog = new SegmentCatalog(source, { missTtlMs: 30 });
    expect(await catalog.get(7)).toBeNull();
    source.rows.set(7, segment(7));
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect((await catalog.get(7))?.id).toBe(7);
    expect(source.calls).toEqual([[7], [7]]);
  });

  it('holds every live segment, however many, and asking for unknown ids never pushes one out', async () => {
    const ids = Array.from({ length: 20_000 }, (_, i) => i + 1);
    const source = new TableSource(new Map(ids.map((id) => [id, segment(id)])));
    const catalog = new SegmentCatalog(source, { maxNonLiveEntries: 2 });
    expect((await catalog.getMany(ids)).size).toBe(20_000);
    await catalog.getMany(Array.from({ length: 1000 }, (_, i) => 100_000 + i));
    expect((await catalog.getMany(ids)).size).toBe(20_000);
    expect(source.calls.map((call) => call.length)).toEqual([20_000, 1000]);
  });

  it('holds at most maxNonLiveEntries archived or unknown ids, the least recently used going first', async () => {
    const archived = (id: number): SegmentRecord => ({ ...segment(id), status: 'ARCHIVED' });
    const source = new TableSource(new Map([1, 2, 3].map((id) => [id, archived(id)])));
    const catalog = new SegmentCatalog(source, { maxNonLiveEntries: 2 });
    await catalog.getMany([1, 2]);
    await catalog.get(1); // 2 is now the least recently used
    await catalog.get(3);
    await catalog.getMany([1, 3]);
    expect(source.calls).toEqual([[1, 2], [3]]);
    await catalog.get(2);
    expect(source.calls).toEqual([[1, 2], [3], [2]]);
    // Unknown ids take room under the same bound: asking for many cannot grow the cache.
    await catalog.getMany(Array.from({ length: 1000 }, (_, i) => 100 + i));
    await catalog.getMany([1, 2, 3]);
    expect(source.calls.at(-1)).toEqual([1, 2, 3]);
  });

  it('moves a segment found archived out of the live ones, into the bounded others', async () => {
    const source = new TableSource(new Map([[1, segment(1)]]));
    const catalog = new SegmentCatalog(source, { maxNonLiveEntries: 1 });
    await catalog.get(1);
    source.rows.set(1, { ...segment(1), status: 'ARCHIVED' });
    catalog.invalidate([1]);
    expect((await catalog.get(1))?.status).toBe('ARCHIVED');
    await catalog.get(2); // unknown: takes the one non-live place
    expect((await catalog.get(1))?.status).toBe('ARCHIVED');
    expect(source.calls).toEqual([[1], [1], [2], [1]]);
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

  it('serves an expired segment once more while it reads it again, then serves the new copy', async () => {
    let now = 1_000;
    const source = new TableSource(new Map([[1, segment(1, 'old')]]));
    const catalog = new SegmentCatalog(source, { ttlMs: 5000, now: () => now });
    expect((await catalog.get(1))?.name).toBe('old');
    source.rows.set(1, { ...segment(1, 'archived'), status: 'ARCHIVED' });
    now += 4_999;
    expect((await catalog.get(1))?.name).toBe('old');
    expect(source.calls).toEqual([[1]]);
    // An announcement of the change was missed: the copy expires instead.
    now += 1;
    expect((await catalog.get(1))?.name).toBe('old');
    await expect.poll(() => catalog.get(1).then((s) => s?.status)).toBe('ARCHIVED');
    expect(source.calls).toEqual([[1], [1]]);
  });

  it('keeps serving the expired copy when reading it again fails, and tries again at the next read', async () => {
    let now = 0;
    const source = new TableSource(new Map([[1, segment(1, 'kept')]]));
    const catalog = new SegmentCatalog(source, { ttlMs: 10, now: () => now });
    await catalog.get(1);
    const findByIds = source.findByIds.bind(source);
    source.findByIds = async (ids) => {
      source.calls.push([...ids]);
      throw new Error('postgres is down');
    };
    now = 10;
    expect((await catalog.get(1))?.name).toBe('kept');
    await expect.poll(() => source.calls.length).toBe(2);
    source.findByIds = findByIds;
    source.rows.set(1, segment(1, 'renamed'));
    await expect.poll(() => catalog.get(1).then((s) => s?.name)).toBe('renamed');
  });
});
