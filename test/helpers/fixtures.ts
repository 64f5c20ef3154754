import type { Stores } from '../../src/stores/create-stores.js';
import type { SegmentRecord } from '../../src/stores/postgres/segment-repository.js';

let names = 0;

/** Creates a STATIC segment straight through the repository. */
export function createSegment(stores: Stores, name = `segment ${++names}`, description?: string): Promise<SegmentRecord> {
  return stores.segments.transaction((tx) => tx.create({ name, description: description ?? null }, 'test-fixture'));
}

/** Archives a segment straight through the repository (nothing is announced). */
export function archiveSegment(stores: Stores, id: number): Promise<SegmentRecord> {
  return stores.segments.transaction(async (tx) => tx.archive((await tx.lock(id))!, 'test-fixture'));
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
