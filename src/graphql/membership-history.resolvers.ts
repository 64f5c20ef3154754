import type { MembershipCause } from '../domain/membership-cause.js';
import { parseSegmentId } from '../domain/segment-id.js';
import { BadUserInputError } from '../platform/errors.js';
import type {
  CustomerResolvers,
  MembershipChangeCause,
  MembershipChangeConnectionResolvers,
  MembershipChangeResolvers,
  SegmentResolvers,
} from '../generated/graphql.js';
import { decodeMembershipChangeCursor, encodeMembershipChangeCursor } from './cursor.js';

const DEFAULT_PAGE_SIZE = 20;
const MAX_PAGE_SIZE = 100;
const DEFAULT_DAYS = 30;
// A year, leap day included: enough for year-on-year charts, and the most one query sums over.
const MAX_DAYS = 366;

const CAUSES: Readonly<Record<MembershipCause, MembershipChangeCause>> = {
  schedule: 'SCHEDULE',
  event: 'EVENT',
  manual: 'MANUAL',
  import: 'IMPORT',
};

function pageSize(first: number | null | undefined): number {
  const size = first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
    throw new BadUserInputError(`first must be between 1 and ${MAX_PAGE_SIZE}`, 'first');
  }
  return size;
}

const afterPosition = (after: string | null | undefined) => (after == null ? undefined : decodeMembershipChangeCursor(after, 'after'));

export const Customer: Pick<CustomerResolvers, 'segmentHistory'> = {
  segmentHistory: ({ id }, args, { loaders }) => {
    const first = pageSize(args.first);
    const after = afterPosition(args.after);
    if (args.segmentId == null) return loaders.customerHistory.load({ customerId: id, first, after });
    // Like isInSegment: an id that names no segment has no history, rather than an error.
    const segmentId = parseSegmentId(args.segmentId);
    if (segmentId === null) return { rows: [], hasNextPage: false };
    return loaders.customerHistory.load({ customerId: id, segmentId, first, after });
  },
};

export const Segment: Pick<SegmentResolvers, 'membershipChanges' | 'sizeHistory'> = {
  membershipChanges: ({ id }, args, { loaders }) =>
    loaders.segmentChanges.load({ segmentId: id, first: pageSize(args.first), after: afterPosition(args.after), since: args.since ?? undefined }),

  sizeHistory: ({ id }, args, { membershipHistory }) => {
    const days = args.days ?? DEFAULT_DAYS;
    if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) {
      throw new BadUserInputError(`days must be between 1 and ${MAX_DAYS}`, 'days');
    }
    return membershipHistory.sizeHistory(id, days);
  },
};

export const MembershipChangeConnection: MembershipChangeConnectionResolvers = {
  edges: ({ rows }) => rows.map((node) => ({ cursor: encodeMembershipChangeCursor(node), node })),
  pageInfo: ({ rows, hasNextPage }) => ({
    hasNextPage,
    endCursor: rows.length > 0 ? encodeMembershipChangeCursor(rows[rows.length - 1]!) : null,
  }),
};

export const MembershipChange: MembershipChangeResolvers = {
  segment: async ({ segmentId }, _args, { loaders }) => {
    const segment = await loaders.segments.load(segmentId);
    // Events go with their segment (ON DELETE CASCADE), so this cannot happen short of a broken database.
    if (!segment) throw new Error(`membership event of segment ${segmentId}, which does not exist`);
    return segment;
  },
  customer: ({ customerId }) => ({ id: customerId }),
  cause: ({ cause }) => CAUSES[cause],
};
