import type { Scope } from './request-auth.js';

/**
 * The one table of which fields need which scope. Resolvers are wrapped from
 * it (graphql/schema.ts), and with FEDERATION_AUTH_DIRECTIVES the same table
 * becomes `@requiresScopes` marks in the SDL.
 */
export const FIELD_SCOPES: Readonly<Record<string, Readonly<Record<string, Scope>>>> = {
  Mutation: {
    createSegment: 'segments:write',
    updateSegment: 'segments:write',
    archiveSegment: 'segments:write',
    recomputeSegment: 'segments:write',
    addSegmentMembers: 'segments:write',
    removeSegmentMembers: 'segments:write',
  },
  Query: {
    segments: 'segments:read',
    previewSegment: 'segments:read',
    previewSegmentChange: 'segments:read',
  },
  Segment: {
    rule: 'segments:read',
    history: 'segments:read',
    lastComputeError: 'segments:read',
  },
};
