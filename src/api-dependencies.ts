import { CustomerErasure } from './admin/customer-erasure.js';
import { MembershipExplainer } from './admin/membership-explainer.js';
import { MemberImport } from './admin/member-import.js';
import { SegmentAdmin } from './admin/segment-admin.js';
import { SegmentPreviewer, type SegmentPreviewerOptions } from './admin/segment-preview.js';
import { DEFAULT_SERVING, type AuthConfig } from './config.js';
import { createTokenVerifier } from './auth/token-verifier.js';
import type { ContextDependencies } from './context.js';
import type { Stores } from './stores/create-stores.js';
import { CustomerErasureRepository } from './stores/postgres/customer-erasure-repository.js';
import { MembershipExplanationRepository } from './stores/postgres/membership-explanation-repository.js';
import { StaticMemberImportRepository } from './stores/postgres/static-member-import-repository.js';

/** What the API (GraphQL and the member import route) runs on. */
export interface ApiDependencies extends ContextDependencies {
  memberImport: MemberImport;
}

/** The API's settings besides auth; each defaults as its consumer says. */
export interface ApiOptions {
  /** @defaultValue DEFAULT_SERVING.laggingAfterMs */
  laggingAfterMs?: number;
  previews?: SegmentPreviewerOptions;
  erasureAuditKey?: string;
  /** @defaultValue ADMIN_LIMITS.defaultMaxLiveSegments */
  maxLiveSegments?: number;
}

/**
 * What the API runs on, assembled from the stores and the auth settings.
 * The API asks no queue for anything: admin changes record their side
 * effects in Postgres, and the workers carry them out.
 */
export function createApiDependencies(stores: Stores, auth: AuthConfig, options: ApiOptions = {}): ApiDependencies {
  const { laggingAfterMs = DEFAULT_SERVING.laggingAfterMs, previews = {}, erasureAuditKey, maxLiveSegments } = options;
  return {
    segments: stores.segments,
    catalog: stores.catalog,
    membershipReader: stores.membershipReader,
    laggingAfterMs,
    admin: new SegmentAdmin({
      segments: stores.segments,
      memberships: stores.memberships,
      outbox: stores.segmentOutbox,
      changeOutbox: stores.changeOutbox,
      committed: (ids) => stores.catalog.invalidate(ids),
      ...(maxLiveSegments !== undefined ? { maxLiveSegments } : {}),
    }),
    previewer: new SegmentPreviewer(stores.segments, stores.rulePreviews, previews),
    explainer: new MembershipExplainer(stores.segments, new MembershipExplanationRepository(stores.pool)),
    erasure: new CustomerErasure({
      erasures: new CustomerErasureRepository(stores.pool),
      outbox: stores.segmentOutbox,
      ...(erasureAuditKey ? { auditKey: erasureAuditKey } : {}),
      committed: (ids) => stores.catalog.invalidate(ids),
    }),
    verifyToken: createTokenVerifier(auth),
    membershipHistory: stores.membershipHistory,
    memberImport: new MemberImport({
      segments: stores.segments,
      imports: new StaticMemberImportRepository(stores.pool),
      outbox: stores.segmentOutbox,
      committed: (ids) => stores.catalog.invalidate(ids),
    }),
  };
}
