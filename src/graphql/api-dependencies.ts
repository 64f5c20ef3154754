import { CustomerErasure } from '../admin/customer-erasure.js';
import { MembershipExplainer } from '../admin/membership-explainer.js';
import { MemberImport } from '../admin/member-import.js';
import { SegmentAdmin } from '../admin/segment-admin.js';
import { SegmentPreviewer, type SegmentPreviewerOptions } from '../admin/segment-preview.js';
import { DEFAULT_SERVING, type AuthConfig } from '../platform/config.js';
import { createTokenVerifier } from '../auth/token-verifier.js';
import type { ContextDependencies } from './context.js';
import type { Stores } from '../platform/create-stores.js';
import { CustomerErasureRepository } from '../stores/postgres/customer-erasure-repository.js';
import { MembershipExplanationRepository } from '../stores/postgres/membership-explanation-repository.js';
import { StaticMemberImportRepository } from '../stores/postgres/static-member-import-repository.js';
import { ChangeOutboxRepository } from '../stores/postgres/change-outbox-repository.js';
import { MembershipHistoryRepository } from '../stores/postgres/membership-history-repository.js';
import { MembershipRepository } from '../stores/postgres/membership-repository.js';
import { SegmentOutboxRepository } from '../stores/postgres/segment-outbox-repository.js';
import { SegmentRepository } from '../stores/postgres/segment-repository.js';

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
  // Requests run on the API's pool (its statement timeout bounds each), imports on theirs.
  const segments = new SegmentRepository(stores.apiPool);
  const outbox = new SegmentOutboxRepository(stores.apiPool);
  return {
    segments,
    catalog: stores.catalog,
    membershipReader: stores.membershipReader,
    laggingAfterMs,
    admin: new SegmentAdmin({
      segments,
      memberships: new MembershipRepository(stores.apiPool),
      outbox,
      changeOutbox: new ChangeOutboxRepository(stores.apiPool),
      committed: (ids) => stores.catalog.invalidate(ids),
      ...(maxLiveSegments !== undefined ? { maxLiveSegments } : {}),
    }),
    previewer: new SegmentPreviewer(segments, stores.rulePreviews, previews),
    explainer: new MembershipExplainer(segments, new MembershipExplanationRepository(stores.apiPool)),
    erasure: new CustomerErasure({
      erasures: new CustomerErasureRepository(stores.apiPool),
      outbox,
      ...(erasureAuditKey ? { auditKey: erasureAuditKey } : {}),
      committed: (ids) => stores.catalog.invalidate(ids),
    }),
    verifyToken: createTokenVerifier(auth),
    membershipHistory: new MembershipHistoryRepository(stores.apiPool),
    memberImport: new MemberImport({
      segments: new SegmentRepository(stores.importPool),
      imports: new StaticMemberImportRepository(stores.importPool),
      outbox: new SegmentOutboxRepository(stores.importPool),
      committed: (ids) => stores.catalog.invalidate(ids),
    }),
  };
}
