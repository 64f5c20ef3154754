import type { MutationResolvers, QueryResolvers, SegmentChangePreviewResolvers, SegmentPreviewResolvers } from '../generated/graphql.js';

// Scopes are enforced from FIELD_SCOPES before these run; they only need the caller.

export const Mutation: MutationResolvers = {
  createSegment: async (_parent, { input }, { admin, auth }) => admin.create(input, await auth.caller()),
  updateSegment: async (_parent, { id, input }, { admin, auth }) => admin.update(id, input, await auth.caller()),
  rollbackSegment: async (_parent, { id, toVersion }, { admin, auth }) => admin.rollback(id, toVersion, await auth.caller()),
  archiveSegment: async (_parent, { id }, { admin, auth }) => admin.archive(id, await auth.caller()),
  recomputeSegment: async (_parent, { id }, { admin, auth }) => admin.requestRecompute(id, await auth.caller()),
  addSegmentMembers: async (_parent, { id, customerIds }, { admin, auth }) => admin.addMembers(id, customerIds, await auth.caller()),
  eraseCustomer: async (_parent, { customerId }, { erasure, auth }) => erasure.erase(customerId, await auth.caller()),
  removeSegmentMembers: async (_parent, { id, customerIds }, { admin, auth }) =>
    admin.removeMembers(id, customerIds, await auth.caller()),
};

export const Query: QueryResolvers = {
  previewSegment: async (_parent, { rule, sampleSize }, { previewer, auth }) => previewer.preview(await auth.caller(), rule, sampleSize),
  previewSegmentChange: async (_parent, { id, rule, sampleSize }, { previewer, auth }) =>
    previewer.previewChange(await auth.caller(), id, rule, sampleSize),
};

const customers = (ids: string[]) => ids.map((id) => ({ id }));

export const SegmentPreview: SegmentPreviewResolvers = {
  sample: ({ sample }) => customers(sample),
};

export const SegmentChangePreview: SegmentChangePreviewResolvers = {
  enteringSample: ({ enteringSample }) => customers(enteringSample),
  leavingSample: ({ leavingSample }) => customers(leavingSample),
};
