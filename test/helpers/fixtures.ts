import { randomUUID } from 'node:crypto';
import type { Stores } from './test-environment.js';
import { publishMembershipEvents } from '../../src/pipeline/publish-membership-events.js';
import type { SegmentRecord } from '../../src/stores/postgres/segment-repository.js';

let names = 0;

/** Creates a STATIC segment straight through the repository. */
export function createSegment(stores: Stores, name = `segment ${++names}`, description?: string): Promise<SegmentRecord> {
  return stores.segments.transaction((tx) => tx.create({ name, description: description ?? null }, 'test-fixture'));
}

/**
 * A RULE segment written straight into Postgres, as a rule change commits it
 * (the segment and its version 1): nothing is announced, queued or computed.
 */
export async function insertRuleSegment(stores: Pick<Stores, 'pool'>, rule: object, name = `rule ${randomUUID()}`): Promise<number> {
  const { rows } = await stores.pool.query<{ id: number }>(
    `WITH s AS (INSERT INTO segments (name, kind, rule, refresh_every_minutes) VALUES ($2, 'RULE', $1, 1440) RETURNING id)
     INSERT INTO segment_versions (segment_id, version, rule, created_by) SELECT id, 1, $1, 'test-fixture' FROM s RETURNING segment_id AS id`,
    [JSON.stringify(rule), name],
  );
  return rows[0]!.id;
}

/** Segment sizes as the API reads them (the row's size and the deltas not folded into it yet). */
export async function segmentSizes(stores: Stores, ids: readonly number[]): Promise<Map<number, number>> {
  return new Map((await stores.segments.findByIds(ids)).map((s) => [s.id, s.size]));
}

/** Archives a segment straight through the repository (nothing is announced). */
export function archiveSegment(stores: Stores, id: number): Promise<SegmentRecord> {
  return stores.segments.transaction(async (tx) => tx.archive((await tx.lock(id))!, 'test-fixture'));
}

/**
 * Writes memberships as the workers do: memberships and their events in
 * Postgres, then the publisher carries them to the Redis serving keys.
 */
export async function addMembers(
  stores: Stores,
  segmentId: number,
  customerIds: readonly string[],
  since = new Date('2026-01-15T10:00:00.000Z'),
): Promise<void> {
  const added = await stores.memberships.add(segmentId, customerIds.map((customerId) => ({ customerId, since })));
  await stores.memberships.recordEvents(segmentId, added, 'ENTERED', { at: since, cause: 'manual', segmentVersion: 1 });
  await publishMembershipEvents({ pool: stores.pool, servingStore: stores.servingStore, stream: stores.eventStream });
}

/** A rule of `depth` nested `not`s around one condition: input built to break a server. */
export function deeplyNestedRule(depth: number): object {
  let rule: object = { lastOrder: { olderThanDays: 1 } };
  for (let i = 0; i < depth; i++) rule = { not: rule };
  return rule;
}
