import type { Rule } from '../src/rules/rule.js';

/** A segment as `createSegment` takes it. */
export interface SegmentSpec {
  name: string;
  rule: Rule;
  refreshEveryMinutes: number;
}

/**
 * The kinds of extra segments `bench:pipeline --mix` creates:
 * - `campaign` (issue 15): a third "at least 1-4 orders at S within 7-90
 *   days", a third "spent more than 20-220 EUR at S within 14-170 days", a
 *   third "last order at S older than 20-120 days", S being 1-8 of the 60
 *   most popular stores;
 * - `varied`: the mix of the earlier runs in docs/benchmarks.md (regulars,
 *   lapsed, big spenders, never tried, inactive; some combined with a place
 *   or a second condition), S being 1-3 of all stores.
 */
export const SEGMENT_MIXES = ['campaign', 'varied'] as const;
export type SegmentMix = (typeof SEGMENT_MIXES)[number];

/** Stores of the seed (`store-00001` ... `store-00500`); low numbers take most orders. */
export const SEEDED_STORES = 500;
/** The stores campaign segments name: the popular ones. */
export const CAMPAIGN_STORES = 60;
const DAILY = 1440;

export const storeId = (n: number) => `store-${String(n).padStart(5, '0')}`;

/** Deterministic PRNG (mulberry32): the same seed gives the same numbers in every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The n-th segment (from 1) of a mix, the same for the same seed. */
export function segmentMix(mix: SegmentMix, seed: number): (n: number) => SegmentSpec {
  switch (mix) {
    case 'campaign':
      return campaignSegments(seed);
    case 'varied':
      return variedSegments(seed);
  }
}

function integers(random: () => number) {
  return (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
}

const label = (n: number) => `bench ${String(n).padStart(5, '0')}`;

/** Issue 15's campaign mix: the kinds in turn (exactly a third each), their parameters drawn from `seed`. */
function campaignSegments(seed: number): (n: number) => SegmentSpec {
  const random = prng(seed);
  const int = integers(random);
  // Sorted and distinct, as the rule parser normalizes them: what is stored is what was sent.
  const stores = () => {
    const picked = new Set<number>();
    const count = int(1, 8);
    while (picked.size < count) picked.add(int(1, CAMPAIGN_STORES));
    return [...picked].sort((a, b) => a - b).map(storeId);
  };
  return (n) => {
    const storeIds = stores();
    const at = `${storeIds.length} store${storeIds.length > 1 ? 's' : ''}`;
    switch (n % 3) {
      case 1: {
        const value = int(1, 4);
        const withinDays = int(7, 90);
        return {
          name: `${label(n)} at least ${value} orders at ${at} within ${withinDays} days`,
          rule: { orderCount: { filter: { storeIds, withinDays }, op: 'GTE', value } },
          refreshEveryMinutes: DAILY,
        };
      }
      case 2: {
        const euros = int(20, 220);
        const withinDays = int(14, 170);
        return {
          name: `${label(n)} spent more than ${euros} EUR at ${at} within ${withinDays} days`,
          rule: { orderTotal: { filter: { storeIds, withinDays }, op: 'GT', value: euros * 100 } },
          refreshEveryMinutes: DAILY,
        };
      }
      default: {
        const olderThanDays = int(20, 120);
        return {
          name: `${label(n)} last order at ${at} older than ${olderThanDays} days`,
          rule: { lastOrder: { filter: { storeIds }, olderThanDays } },
          refreshEveryMinutes: DAILY,
        };
      }
    }
  };
}

/** Realistic, varied rule segments: most select a few percent of customers, a few select many. */
function variedSegments(seed: number): (n: number) => SegmentSpec {
  const random = prng(seed);
  const int = integers(random);
  const stores = () => [...new Set(Array.from({ length: int(1, 3) }, () => storeId(1 + Math.floor(SEEDED_STORES * random() ** 2.5))))].sort();
  const orderCondition = (): [string, Rule] => {
    const kind = random();
    if (kind < 0.4) {
      return ['regulars', { orderCount: { filter: { storeIds: stores(), withinDays: int(7, 90) }, op: 'GTE', value: int(2, 5) } }];
    }
    if (kind < 0.6) {
      return ['lapsed', { lastOrder: { filter: { storeIds: stores() }, olderThanDays: int(30, 180) } }];
    }
    if (kind < 0.8) {
      const withinDays = int(30, 365);
      const filter = random() < 0.4 ? { storeIds: stores(), withinDays } : { withinDays };
      return ['big spenders', { orderTotal: { filter, op: 'GTE', value: int(50, 300) * 1000 } }];
    }
    if (kind < 0.9) {
      // Active customers who never tried these stores.
      return ['never tried', { all: [{ orderCount: { filter: { storeIds: stores() }, op: 'EQ', value: 0 } }, { lastOrder: { withinDays: int(7, 30) } }] }];
    }
    return ['inactive', { lastOrder: { olderThanDays: int(60, 365) } }];
  };
  const attribute = (): Rule => {
    const pick = random();
    if (pick < 0.4) return { attribute: { field: 'country', op: 'EQ', value: ['DE', 'FR', 'ES', 'IT', 'PL'][int(0, 4)]! } };
    if (pick < 0.6) return { attribute: { field: 'country', op: 'IN', values: ['DE', 'FR'] } };
    const cities = ['Berlin', 'Hamburg', 'Munich', 'Paris', 'Lyon', 'Madrid', 'Milan', 'Warsaw'];
    if (pick < 0.85) return { attribute: { field: 'city', op: 'EQ', value: cities[int(0, cities.length - 1)]! } };
    return { attribute: { field: 'city', op: 'NOT_IN', values: [cities[int(0, 3)]!, cities[int(4, 7)]!] } };
  };
  return (n) => {
    const [kind, condition] = orderCondition();
    const combine = random();
    let name = kind;
    let rule = condition;
    if (combine < 0.3 || kind === 'inactive' || kind === 'lapsed') {
      name = `${kind} by place`;
      rule = { all: [condition, attribute()] };
    } else if (combine < 0.4) {
      const [other, second] = orderCondition();
      name = `${kind} and ${other}`;
      rule = { all: [condition, second] };
    }
    return { name: `${label(n)} ${name}`, rule, refreshEveryMinutes: DAILY };
  };
}
