import { describe, expect, it } from 'vitest';
import { CallerConcurrency } from '../../src/admin/caller-concurrency.js';

describe('CallerConcurrency', () => {
  it('gives each caller up to max slots, apart from other callers', () => {
    const concurrency = new CallerConcurrency(2);
    const a1 = concurrency.tryAcquire('a');
    const a2 = concurrency.tryAcquire('a');
    expect([a1, a2].every(Boolean)).toBe(true);
    expect(concurrency.tryAcquire('a')).toBeUndefined();
    expect(concurrency.tryAcquire('b')).toBeTypeOf('function');
    a1!();
    expect(concurrency.tryAcquire('a')).toBeTypeOf('function');
  });

  it('holds only callers with work in progress', () => {
    const concurrency = new CallerConcurrency(1);
    const releases = Array.from({ length: 1000 }, (_, i) => concurrency.tryAcquire(`caller-${i}`)!);
    expect(concurrency.callers).toBe(1000);
    for (const release of releases) release();
    expect(concurrency.callers).toBe(0);
  });

  it('gives a slot back once, however often its release is called', () => {
    const concurrency = new CallerConcurrency(2);
    const first = concurrency.tryAcquire('a')!;
    concurrency.tryAcquire('a');
    first();
    first();
    expect(concurrency.tryAcquire('a')).toBeTypeOf('function');
    expect(concurrency.tryAcquire('a')).toBeUndefined();
  });
});
