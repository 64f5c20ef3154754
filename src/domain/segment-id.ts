// The one reader of segment ids: GraphQL arguments, admin inputs and rules' inSegment all
// go through it, so that an id one accepts the others never reject.
const MAX_SEGMENT_ID = 2_147_483_647; // segments.id is a Postgres integer

/**
 * Reads a GraphQL segment `ID`. Segment ids are positive integers; anything
 * else names no segment, and the caller decides whether that is an error.
 */
export function parseSegmentId(id: string): number | null {
  if (!/^[1-9]\d{0,9}$/.test(id)) return null;
  const n = Number(id);
  return n <= MAX_SEGMENT_ID ? n : null;
}
