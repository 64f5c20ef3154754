import type { Scope } from './request-auth.js';

/** A field anyone may read, without a token. */
export const PUBLIC = 'public';
export type FieldAccess = Scope | typeof PUBLIC;

/**
 * The types whose every field needs a decision here: the roots, and the
 * entities (reachable from any other subgraph's types through the router).
 * Other types are reachable only through a field of these, whose decision
 * covers them.
 */
export const GUARDED_TYPES = ['Query', 'Mutation', 'Customer', 'Segment'] as const;

/**
 * The one table of who may resolve which field. Authorization is deny by
 * default: a field of a guarded type that is missing here makes the schema
 * refuse to build (graphql/schema.ts), so a new mutation can never be public
 * by omission. With FEDERATION_AUTH_DIRECTIVES the scoped entries also become
 * `@requiresScopes` marks in the SDL.
 */
export const FIELD_SCOPES: Readonly<Record<(typeof GUARDED_TYPES)[number], Readonly<Record<string, FieldAccess>>>> = {
  Mutation: {
    createSegment: 'segments:write',
    updateSegment: 'segments:write',
    rollbackSegment: 'segments:write',
    archiveSegment: 'segments:write',
    recomputeSegment: 'segments:write',
    addSegmentMembers: 'segments:write',
    removeSegmentMembers: 'segments:write',
    eraseCustomer: 'segments:write',
  },
  Query: {
    // The router's entry points into this subgraph: they return entities whose fields decide for themselves.
    _entities: PUBLIC,
    _service: PUBLIC,
    segment: PUBLIC,
    segments: 'segments:read',
    previewSegment: 'segments:read',
    previewSegmentChange: 'segments:read',
    explainMembership: 'segments:read',
  },
  Customer: {
    id: PUBLIC,
    segments: PUBLIC,
    isInSegment: PUBLIC,
    segmentMemberships: PUBLIC,
    segmentsFreshness: PUBLIC,
    segmentHistory: 'segments:read',
  },
  Segment: {
    id: PUBLIC,
    name: PUBLIC,
    description: PUBLIC,
    status: PUBLIC,
    size: PUBLIC,
    createdAt: PUBLIC,
    updatedAt: PUBLIC,
    lastComputedAt: PUBLIC,
    kind: PUBLIC,
    version: PUBLIC,
    refreshEveryMinutes: PUBLIC,
    rule: 'segments:read',
    history: 'segments:read',
    lastComputeError: 'segments:read',
    // Operational state, like lastComputeError: for admins and dashboards, not storefronts.
    computeState: 'segments:read',
    stale: 'segments:read',
    membershipChanges: 'segments:read',
    sizeHistory: 'segments:read',
  },
};

/** The scope a field needs, `PUBLIC`, or undefined when the table has no decision for it. */
export function fieldAccess(typeName: string, fieldName: string): FieldAccess | undefined {
  return (FIELD_SCOPES as Record<string, Record<string, FieldAccess> | undefined>)[typeName]?.[fieldName];
}
