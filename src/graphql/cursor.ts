import { BadUserInputError } from '../errors.js';
import { parseSegmentId } from './segment-id.js';

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
