import { BadUserInputError } from '../platform/errors.js';
import { parseSegmentId } from '../domain/segment-id.js';

// Cursors are opaque to clients (Relay spec) but only encode the last id seen,
// so pages stay stable while segments are added: keyset, not offset, paging.
// https://relay.dev/graphql/connections.htm#sec-Cursor

export function encodeSegmentCursor(segmentId: number): string {
  return Buffer.from(`segment:${segmentId}`).toString('base64url');
}

/** The segment id inside a cursor; a BAD_USER_INPUT error on `field` when it is not one of ours. */
export function decodeSegmentCursor(cursor: string, field: string): number {
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  const id = decoded.startsWith('segment:') ? parseSegmentId(decoded.slice('segment:'.length)) : null;
  if (id === null) throw new BadUserInputError(`${field} is not a cursor returned by this API`, field);
  return id;
}

/** Where a page of membership history stopped: the time (µs since the epoch) and id of its last change. */
export interface MembershipChangeCursor {
  atMicros: string;
  id: string;
}

const MEMBERSHIP_CHANGE_CURSOR = /^membership-change:(-?\d{1,17}):([1-9]\d{0,18})$/;
const MAX_EVENT_ID = 9_223_372_036_854_775_807n; // segment_membership_events.id is a Postgres bigint

export function encodeMembershipChangeCursor({ atMicros, id }: MembershipChangeCursor): string {
  return Buffer.from(`membership-change:${atMicros}:${id}`).toString('base64url');
}

/** The position inside a membership-change cursor; a BAD_USER_INPUT error on `field` when it is not one of ours. */
export function decodeMembershipChangeCursor(cursor: string, field: string): MembershipChangeCursor {
  const match = MEMBERSHIP_CHANGE_CURSOR.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match || BigInt(match[2]!) > MAX_EVENT_ID) throw new BadUserInputError(`${field} is not a cursor returned by this API`, field);
  return { atMicros: match[1]!, id: match[2]! };
}
