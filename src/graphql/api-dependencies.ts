import { CustomerErasure } from '../admin/customer-erasure.js';
import { MembershipExplainer } from '../admin/membership-explainer.js';
import { MemberImport } from '../admin/member-import.js';
import { SegmentAdmin } from '../admin/segment-admin.js';
import { SegmentPreviewer, type SegmentPreviewerOptions } from '../admin/segment-preview.js';
import { DEFAULT_SERVING, type AuthConfig } from '../platform/config.js';
import { createTokenVerifier } from '../auth/token-verifier.js';
import type { ContextDependencies } from './context.js';
import type pg from 'pg';
import type { StoreClients } from '../platform/store-clients.js';
import type { Serving } from '../serving/open-serving.js';
import type { MembershipReader } from '../serving/membership-reader.js';
import type { SegmentCatalog } from '../serving/segment-catalog.js';
import { RulePreviewRepository } from '../stores/postgres/rule-preview-repository.js';
import { DEFAULT_PREVIEW_POOL } from '../platform/preview-pool-config.js';
import { CustomerErasureRepository } from '../stores/postgres/customer-erasure-repository.js';
import { MembershipExplanationRepository } from '../stores/postgres/membership-explanation-repository.js';
import { StaticMemberImportRepository } from '../stores/postgres/static-member-import-repository.js';
import { ChangeOutboxRepository } from '../stores/postgres/change-outbox-repository.js';
import { MembershipHistoryRepository } from '../stores/postgres/membership-history-repository.js';
import { MembershipRepository } from '../stores/postgres/membership-repository.js';
import { SegmentOutboxRepository } from '../stores/postgres/segment-outbox-repository.js';
import { SegmentRepository } from '../stores/postgres/segment-repository.js';
import type { ReadPool } from '../platform/read-replica.js';

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

/** The stores the API runs on, and nothing else. */
export interface ApiStores {
  /** Requests run here: its statement timeout bounds what one request can make Postgres do. */
  apiPool: pg.Pool;
  /** Member imports run here: an upload holds a connection for its whole length. */
  importPool: pg.Pool;
  catalog: SegmentCatalog;
  membershipReader: MembershipReader;
  /** Rule previews, on the preview pool: bounded, and never in the way of reads. */
  rulePreviews: RulePreviewRepository;
  /** Reads that may lag a little (explain, history, size history): the replica while it is in use, else the API's pool. */
  laggingReads: ReadPool;
}

/** The subgraph role's stores, over the process's clients and its read path. */
export function apiStores(clients: StoreClients, serving: Serving): ApiStores {
  return {
    apiPool: clients.apiPool(),
    importPool: clients.importPool(),
    catalog: serving.catalog,
    membershipReader: serving.membershipReader,
    rulePreviews: new RulePreviewRepository(clients.previewReads(), clients.settings.previewPool ?? DEFAULT_PREVIEW_POOL),
    laggingReads: clients.replicaReads(clients.apiPool()),
  };
}

/**
 * What the API runs on, assembled from its stores and the auth settings.
 * The API asks no queue for anything: admin changes record their side
 * effects in Postgres, and the workers carry them out.
 */
export function createApiDependencies(stores: ApiStores, auth: AuthConfig, options: ApiOptions = {}): ApiDependencies {
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
    explainer: new MembershipExplainer(segments, new MembershipExplanationRepository(stores.laggingReads)),
    erasure: new CustomerErasure({
      erasures: new CustomerErasureRepository(stores.apiPool),
      outbox,
      ...(erasureAuditKey ? { auditKey: erasureAuditKey } : {}),
      committed: (ids) => stores.catalog.invalidate(ids),
    }),
    verifyToken: createTokenVerifier(auth),
    membershipHistory: new MembershipHistoryRepository(stores.laggingReads),
    memberImport: new MemberImport({
      segments: new SegmentRepository(stores.importPool),
      imports: new StaticMemberImportRepository(stores.importPool),
      outbox: new SegmentOutboxRepository(stores.importPool),
      committed: (ids) => stores.catalog.invalidate(ids),
    }),
  };
}
