import { BadUserInputError } from '../platform/errors.js';
import type { QueryResolvers, SegmentConnectionResolvers, SegmentResolvers } from '../generated/graphql.js';
import { decodeSegmentCursor, encodeSegmentCursor } from './cursor.js';
import { parseSegmentId } from '../domain/segment-id.js';

const DEFAULT_PAGE_SIZE = 20;
const MAX_PAGE_SIZE = 100;

export const Query: QueryResolvers = {
  segment: (_parent, args, { loaders }) => {
    const id = parseSegmentId(args.id);
    return id === null ? null : loaders.segments.load(id);
  },

  segments: async (_parent, { first, after, status, stale }, { segments }) => {
    const pageSize = first ?? DEFAULT_PAGE_SIZE;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
      throw new BadUserInputError(`first must be between 1 and ${MAX_PAGE_SIZE}`, 'first');
    }
    const afterId = after == null ? undefined : decodeSegmentCursor(after, 'after');
    const page = await segments.page({ first: pageSize, afterId, status: status ?? undefined, stale: stale ?? undefined });
    return { ...page, status: status ?? undefined, stale: stale ?? undefined };
  },
};

export const Segment: SegmentResolvers = {
  __resolveReference: (reference, { loaders }) => {
    const id = parseSegmentId(reference.id);
    return id === null ? null : loaders.segments.load(id);
  },
  id: (segment) => String(segment.id),
  history: ({ id }, { first }, { segments }) => {
    const limit = first ?? DEFAULT_PAGE_SIZE;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
      throw new BadUserInputError(`first must be between 1 and ${MAX_PAGE_SIZE}`, 'first');
    }
    return segments.history(id, limit);
  },
};

export const SegmentConnection: SegmentConnectionResolvers = {
  edges: ({ rows }) => rows.map((node) => ({ cursor: encodeSegmentCursor(node.id), node })),
  pageInfo: ({ rows, hasNextPage }) => ({
    hasNextPage,
    endCursor: rows.length > 0 ? encodeSegmentCursor(rows[rows.length - 1]!.id) : null,
  }),
  totalCount: ({ status, stale }, _args, { segments }) => segments.count(status, stale),
};
