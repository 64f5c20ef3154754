import type { Stores } from '../../src/stores/create-stores.js';
import type { SegmentRecord } from '../../src/stores/postgres/segment-repository.js';

let names = 0;

/** Creates a segment through the repository, as the admin API does. */
export function createSegment(stores: Stores, name = `segment ${++names}`, description?: string): Promise<SegmentRecord> {
  return stores.segments.create({ name, description: description ?? null });
}

/**
 * Writes memberships where the workers do: the durable store in Postgres and
 * the serving keys in Redis.
 */
export async function addMembers(
  stores: Stores,
  segmentId: number,
  customerIds: readonly string[],
  since = new Date('2026-01-15T10:00:00.000Z'),
): Promise<void> {
  const members = customerIds.map((customerId) => ({ customerId, since }));
  await stores.memberships.add(segmentId, members);
  await stores.servingStore.add(segmentId, members);
}
