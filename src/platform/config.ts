import { z } from 'zod';
import { DEFAULT_PREVIEW_POOL, type PreviewPoolConfig } from './preview-pool-config.js';
import { ADMIN_LIMITS } from '../admin/admin-input.js';
import { DEFAULT_SERVING, type ServingConfig } from '../serving/serving-config.js';
import { DEFAULT_CONNECTION_TIMEOUTS, type ConnectionTimeouts } from './connection-timeouts-config.js';
import type { RedisTarget } from '../stores/redis/client.js';
import { DEFAULT_REPLICA_MAX_LAG_MS } from './read-replica.js';
import { DEFAULT_RECONCILE_BATCH } from '../pipeline/serving-reconciler.js';

export { DEFAULT_SERVING, type ServingConfig };

/**
 * The service's settings, read from the environment once at start-up.
 * Every field has a default that works on a developer machine with the local
 * Postgres and Redis; production sets them explicitly.
 */
export interface Config {
  /** Postgres connection string. The database is created on start if missing. */
  databaseUrl: string;
  /**
   * The Redis of the serving store, pub/sub and queues: REDIS_URL, or a Redis
   * Cluster through its seed nodes when REDIS_CLUSTER_NODES is set (it then
   * replaces REDIS_URL, and keys take the cluster layout, `redisKeys`).
   * @defaultValue `{ url: 'redis://127.0.0.1:6379' }`
   */
  redis: RedisTarget;
  /**
   * Prepended to every Redis key, channel and queue name, so several
   * deployments (or test runs) can share one Redis.
   * @defaultValue `segments:`
   */
  redisPrefix: string;
  /** HTTP port of the subgraph. @defaultValue 4001 */
  port: number;
  /** The interface the listeners bind (HOST), e.g. `127.0.0.1`; unset, every interface. */
  host?: string;
  /**
   * METRICS_PORT: serve the subgraph's `/metrics` (and health checks) on a
   * listener of its own, and not on `port`, so the scrape stays off the
   * port the router reaches. Unset, `/metrics` is on `port`.
   */
  metricsPort?: number;
  /** How long a client may take to send its request; see `ConnectionTimeouts`. */
  timeouts: ConnectionTimeouts;
  /**
   * HTTP port of the worker role's operations listener (`/metrics`,
   * `/health/live`, `/health/ready`). Role `all` serves them on `port`
   * instead and opens no second port. @defaultValue 4002
   */
  workerPort: number;
  /** `production` turns off introspection and the Sandbox landing page unless set explicitly. */
  nodeEnv: string;
  /** Whether the schema can be introspected. @defaultValue true outside production */
  introspection: boolean;
  /** Whether `GET /` shows Apollo Sandbox. @defaultValue true outside production */
  landingPage: boolean;
  /** pino log level. @defaultValue `info` */
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** How admin tokens are verified; see `AuthConfig`. */
  auth: AuthConfig;
  /**
   * Emit Federation's `@requiresScopes` on the admin fields. Only Apollo's
   * licensed router understands them (`@apollo/gateway` refuses the
   * supergraph), so they are off unless asked for. @defaultValue false
   */
  federationAuthDirectives: boolean;
  /**
   * Keep the trigger that copies new `orders` rows into the order outbox.
   * Turn it off where the orders table belongs to someone else and order
   * events arrive on the order-events queue instead. @defaultValue true
   */
  orderOutboxTrigger: boolean;
  /** BullMQ lock duration: how soon a job of a dead worker is retried elsewhere, in ms. @defaultValue 30000 */
  workerLockDurationMs: number;
  /** How long each DDL statement of the migration step may wait for its table lock, in ms. @defaultValue 5000 */
  ddlLockTimeoutMs: number;
  /**
   * Customers the serving-store reconciler compares with Postgres a second
   * (SERVING_RECONCILE_BATCH): the workers share one walk, so it is the
   * deployment's rate. 0 turns it off. @defaultValue 500
   */
  servingReconcileBatch: number;
  /**
   * DATABASE_REPLICA_URL: a streaming replica of `databaseUrl` that answers
   * the serving fallback, previews, explain, history and size history while
   * it is at most `maxLagMs` behind (REPLICA_MAX_LAG_MS), each statement
   * within `statementTimeoutMs` (REPLICA_STATEMENT_TIMEOUT_MS); the primary
   * answers them otherwise. Unset, they all go to the primary.
   */
  replica?: { databaseUrl: string; maxLagMs: number; statementTimeoutMs: number };
  /** How membership reads are served; see `ServingConfig`. */
  serving: ServingConfig;
  /** What one operation may ask for; see `OperationLimits`. */
  limits: OperationLimits;
  /** Execute operations compiled by graphql-jit (docs/benchmarks.md "Serving speed"). @defaultValue true */
  compiledExecution: boolean;
  /**
   * Membership events that happened longer ago than this many days are
   * dropped, but for the latest of each membership (docs/pipeline.md "Retention").
   * @defaultValue 180
   */
  membershipEventRetentionDays: number;
  /** Entries of the membership-events stream older than this are trimmed, in ms (docs/pipeline.md "Retention"). @defaultValue 7 days */
  membershipStreamRetentionMs: number;
  /** What previews may cost; see `PreviewConfig`. */
  previews: PreviewConfig;
  /** Keys the hash under which eraseCustomer's audit log names a customer (docs/api.md "Erasure"). Optional; a secret. */
  erasureAuditKey?: string;
  /** The largest member list `PUT /admin/segments/{id}/members` accepts, in bytes after decompression. @defaultValue 268435456 (256 MiB) */
  memberImportMaxBytes: number;
  /**
   * The secret the router sends in `header` (ROUTER_SHARED_SECRET,
   * ROUTER_SECRET_HEADER): GraphQL and the member import answer only
   * requests that carry it (docs/configuration.md "Router-only access"). Optional outside
   * production.
   */
  routerSecret?: { secret: string; header: string };
  /**
   * ROUTER_ONLY_NETWORK: the network already lets only the router reach the
   * subgraph's port, so production may run without `routerSecret`. @defaultValue false
   */
  routerOnlyNetwork: boolean;
  /** Most segments not archived at once (MAX_LIVE_SEGMENTS); createSegment past it is QUOTA_EXCEEDED. @defaultValue 100000 */
  maxLiveSegments: number;
  /** Statement timeout of the API's Postgres pool (API_STATEMENT_TIMEOUT_MS), in ms; the workers' pool has none. @defaultValue 30000 */
  apiStatementTimeoutMs: number;
}

/**
 * How much work previews may cause (docs/api.md "Admin API limits"): the preview
 * pool's size and timeouts (`PreviewPoolConfig`), and how many previews one
 * caller may run at once.
 */
export interface PreviewConfig extends PreviewPoolConfig {
  /** Previews one token `sub` may run at once, counted in each process. @defaultValue 1 */
  maxConcurrentPerToken: number;
}

export const DEFAULT_PREVIEWS: PreviewConfig = { ...DEFAULT_PREVIEW_POOL, maxConcurrentPerToken: 1 };

/** What one operation may ask for (docs/api.md "Operation limits"). */
export interface OperationLimits {
  /** Deepest field nesting, introspection aside. @defaultValue 15 */
  maxDepth: number;
  /** Aliased fields in one operation. @defaultValue 30 */
  maxAliases: number;
  /** Tokens in the document, checked while parsing. @defaultValue 5000 */
  maxTokens: number;
  /** graphql-armor's cost of the document (fields weighted by depth). @defaultValue 5000 */
  maxCost: number;
  /** Representations in one `_entities` call. @defaultValue 2000 */
  maxRepresentations: number;
  /** Representations times the Customer fields asked of each (the fields that read memberships), over the whole operation. @defaultValue 10000 */
  maxMembershipCost: number;
  /** Segment histories one operation may read (`sizeHistory`, `membershipChanges`, times the pages above them). @defaultValue 20 */
  maxHistoryScans: number;
}

// A router's page of 1,000 customers asking all four Customer fields costs 4,000.
export const DEFAULT_OPERATION_LIMITS: OperationLimits = {
  maxDepth: 15,
  maxAliases: 30,
  maxTokens: 5000,
  maxCost: 5000,
  maxRepresentations: 2000,
  maxMembershipCost: 10_000,
  maxHistoryScans: 20,
};

/**
 * Admin tokens are JWTs, verified with `secret` (HS256) or the keys at
 * `jwksUrl`. With neither, every admin operation is refused.
 */
export interface AuthConfig {
  secret?: string;
  jwksUrl?: URL;
  issuer?: string;
  audience?: string;
  /** Oldest accepted token, by its `iat`, in seconds; tokens must carry `exp` and `iat`. @defaultValue 86400 */
  maxTokenAgeSeconds?: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const booleanString = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const count = (min: number, max: number, fallback: number) =>
  z.coerce
    .number({ message: 'must be a number' })
    .int('must be a whole number')
    .min(min, `must be between ${min} and ${max}`)
    .max(max, `must be between ${min} and ${max}`)
    .default(fallback);

const environmentSchema = z.object({
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .default('postgres://postgres@127.0.0.1:5432/segments'),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .default('redis://127.0.0.1:6379'),
  REDIS_CLUSTER_NODES: z
    .string()
    .regex(/^\s*[\w.-]+:\d{1,5}\s*(,\s*[\w.-]+:\d{1,5}\s*)*$/, 'must be a comma-separated list of host:port')
    .transform((nodes, context) => {
      const parsed = nodes.split(',').map((node) => {
        const [host, port] = node.trim().split(':') as [string, string];
        return { host, port: Number(port) };
      });
      if (parsed.some(({ port }) => port < 1 || port > 65535)) context.addIssue({ code: 'custom', message: 'ports must be between 1 and 65535' });
      return parsed;
    })
    .optional(),
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_.-]{1,64}$/, 'must be 1-64 characters of letters, digits and : _ . -')
    .default('segments:'),
  PORT: z.coerce
    .number({ message: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be between 1 and 65535')
    .max(65535, 'must be between 1 and 65535')
    .default(4001),
  HOST: z.string().regex(/^[\w.:-]{1,253}$/, 'must be a host name or an IP address').optional(),
  METRICS_PORT: z.coerce
    .number({ message: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be between 1 and 65535')
    .max(65535, 'must be between 1 and 65535')
    .optional(),
  HTTP_HEADERS_TIMEOUT_MS: count(1000, 600_000, DEFAULT_CONNECTION_TIMEOUTS.headersMs),
  HTTP_BODY_IDLE_TIMEOUT_MS: count(1000, 600_000, DEFAULT_CONNECTION_TIMEOUTS.bodyIdleMs),
  WORKER_PORT: z.coerce
    .number({ message: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be between 1 and 65535')
    .max(65535, 'must be between 1 and 65535')
    .default(4002),
  // `test` is what test runners set; anything else (`prod`, `Production`) is a typo that would be taken as development.
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  GRAPHQL_INTROSPECTION: booleanString.optional(),
  GRAPHQL_LANDING_PAGE: booleanString.optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // HS256 needs a key at least as long as the hash: 256 bits.
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  ERASURE_AUDIT_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
  JWT_JWKS_URL: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).optional(),
  JWT_ISSUER: z.string().optional(),
  JWT_AUDIENCE: z.string().optional(),
  JWT_MAX_TOKEN_AGE_SECONDS: count(60, 30 * 86_400, 86_400),
  FEDERATION_AUTH_DIRECTIVES: booleanString.default(false),
  ORDER_OUTBOX_TRIGGER: booleanString.default(true),
  WORKER_LOCK_DURATION_MS: count(1000, 600_000, 30_000),
  DDL_LOCK_TIMEOUT_MS: count(100, 600_000, 5_000),
  SERVING_RECONCILE_BATCH: count(0, 100_000, DEFAULT_RECONCILE_BATCH),
  DATABASE_REPLICA_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL').optional(),
  REPLICA_MAX_LAG_MS: count(100, 600_000, DEFAULT_REPLICA_MAX_LAG_MS),
  REPLICA_STATEMENT_TIMEOUT_MS: count(100, 600_000, 5_000),
  SERVING_REDIS_TIMEOUT_MS: count(1, 10_000, DEFAULT_SERVING.redisTimeoutMs),
  SERVING_BREAKER_RESET_MS: count(100, 600_000, DEFAULT_SERVING.breakerResetMs),
  SERVING_POSTGRES_TIMEOUT_MS: count(10, 60_000, DEFAULT_SERVING.postgresTimeoutMs),
  FRESHNESS_LAGGING_AFTER_MS: count(100, 86_400_000, DEFAULT_SERVING.laggingAfterMs),
  SEGMENT_CACHE_TTL_MS: count(100, 3_600_000, DEFAULT_SERVING.segmentCacheTtlMs),
  GRAPHQL_COMPILED_EXECUTION: booleanString.default(true),
  GRAPHQL_MAX_DEPTH: count(1, 1000, DEFAULT_OPERATION_LIMITS.maxDepth),
  GRAPHQL_MAX_ALIASES: count(0, 100_000, DEFAULT_OPERATION_LIMITS.maxAliases),
  GRAPHQL_MAX_TOKENS: count(100, 1_000_000, DEFAULT_OPERATION_LIMITS.maxTokens),
  GRAPHQL_MAX_COST: count(1, 100_000_000, DEFAULT_OPERATION_LIMITS.maxCost),
  GRAPHQL_MAX_REPRESENTATIONS: count(1, 1_000_000, DEFAULT_OPERATION_LIMITS.maxRepresentations),
  GRAPHQL_MAX_MEMBERSHIP_COST: count(1, 100_000_000, DEFAULT_OPERATION_LIMITS.maxMembershipCost),
  GRAPHQL_MAX_HISTORY_SCANS: count(1, 10_000, DEFAULT_OPERATION_LIMITS.maxHistoryScans),
  MEMBERSHIP_EVENT_RETENTION_DAYS: count(1, 36_500, 180),
  MEMBERSHIP_STREAM_RETENTION_HOURS: count(1, 87_600, 168),
  PREVIEW_POOL_SIZE: count(1, 100, DEFAULT_PREVIEWS.size),
  PREVIEW_STATEMENT_TIMEOUT_MS: count(100, 600_000, DEFAULT_PREVIEWS.statementTimeoutMs),
  PREVIEW_POOL_WAIT_TIMEOUT_MS: count(100, 60_000, DEFAULT_PREVIEWS.waitTimeoutMs),
  PREVIEW_MAX_CONCURRENT_PER_TOKEN: count(1, 100, DEFAULT_PREVIEWS.maxConcurrentPerToken),
  MEMBER_IMPORT_MAX_BYTES: count(1024, 4 * 1024 ** 3, ADMIN_LIMITS.maxImportBytes),
  ROUTER_SHARED_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  ROUTER_SECRET_HEADER: z
    .string()
    .regex(/^[A-Za-z0-9-]{1,64}$/, 'must be a header name: 1-64 letters, digits and -')
    .default('Router-Authorization'),
  ROUTER_ONLY_NETWORK: booleanString.default(false),
  MAX_LIVE_SEGMENTS: count(1, 10_000_000, ADMIN_LIMITS.defaultMaxLiveSegments),
  API_STATEMENT_TIMEOUT_MS: count(100, 3_600_000, 30_000),
});

/**
 * Parses and validates the environment. Throws a `ConfigError` whose message
 * is one line naming the first bad variable, e.g.
 * `Invalid configuration: PORT must be between 1 and 65535 (got "70000")`.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings count as unset, as in most deployment tooling.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = environmentSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0]);
    const message = issue.code === 'invalid_value' ? `must be one of ${issue.values.join(', ')}` : issue.message;
    throw new ConfigError(`Invalid configuration: ${name} ${message}${shownValue(name, env[name])}`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  // Keys from a URL are only as trustworthy as the issuer and audience checked with them.
  if (e.JWT_JWKS_URL && (!e.JWT_ISSUER || !e.JWT_AUDIENCE)) {
    throw new ConfigError('Invalid configuration: JWT_JWKS_URL needs JWT_ISSUER and JWT_AUDIENCE too');
  }
  if (e.JWT_JWKS_URL && production && !e.JWT_JWKS_URL.startsWith('https:')) {
    throw new ConfigError('Invalid configuration: JWT_JWKS_URL must be an https URL in production');
  }
  return {
    databaseUrl: e.DATABASE_URL,
    redis: e.REDIS_CLUSTER_NODES ? { clusterNodes: e.REDIS_CLUSTER_NODES } : { url: e.REDIS_URL },
    redisPrefix: e.REDIS_PREFIX,
    port: e.PORT,
    ...(e.HOST ? { host: e.HOST } : {}),
    ...(e.METRICS_PORT ? { metricsPort: e.METRICS_PORT } : {}),
    timeouts: { headersMs: e.HTTP_HEADERS_TIMEOUT_MS, bodyIdleMs: e.HTTP_BODY_IDLE_TIMEOUT_MS },
    workerPort: e.WORKER_PORT,
    nodeEnv: e.NODE_ENV,
    introspection: e.GRAPHQL_INTROSPECTION ?? !production,
    landingPage: e.GRAPHQL_LANDING_PAGE ?? !production,
    logLevel: e.LOG_LEVEL,
    auth: {
      ...(e.JWT_SECRET ? { secret: e.JWT_SECRET } : {}),
      ...(e.JWT_JWKS_URL ? { jwksUrl: new URL(e.JWT_JWKS_URL) } : {}),
      ...(e.JWT_ISSUER ? { issuer: e.JWT_ISSUER } : {}),
      ...(e.JWT_AUDIENCE ? { audience: e.JWT_AUDIENCE } : {}),
      maxTokenAgeSeconds: e.JWT_MAX_TOKEN_AGE_SECONDS,
    },
    federationAuthDirectives: e.FEDERATION_AUTH_DIRECTIVES,
    orderOutboxTrigger: e.ORDER_OUTBOX_TRIGGER,
    workerLockDurationMs: e.WORKER_LOCK_DURATION_MS,
    ddlLockTimeoutMs: e.DDL_LOCK_TIMEOUT_MS,
    servingReconcileBatch: e.SERVING_RECONCILE_BATCH,
    ...(e.DATABASE_REPLICA_URL
      ? { replica: { databaseUrl: e.DATABASE_REPLICA_URL, maxLagMs: e.REPLICA_MAX_LAG_MS, statementTimeoutMs: e.REPLICA_STATEMENT_TIMEOUT_MS } }
      : {}),
    serving: {
      redisTimeoutMs: e.SERVING_REDIS_TIMEOUT_MS,
      breakerResetMs: e.SERVING_BREAKER_RESET_MS,
      postgresTimeoutMs: e.SERVING_POSTGRES_TIMEOUT_MS,
      laggingAfterMs: e.FRESHNESS_LAGGING_AFTER_MS,
      segmentCacheTtlMs: e.SEGMENT_CACHE_TTL_MS,
    },
    compiledExecution: e.GRAPHQL_COMPILED_EXECUTION,
    memberImportMaxBytes: e.MEMBER_IMPORT_MAX_BYTES,
    limits: {
      maxDepth: e.GRAPHQL_MAX_DEPTH,
      maxAliases: e.GRAPHQL_MAX_ALIASES,
      maxTokens: e.GRAPHQL_MAX_TOKENS,
      maxCost: e.GRAPHQL_MAX_COST,
      maxRepresentations: e.GRAPHQL_MAX_REPRESENTATIONS,
      maxMembershipCost: e.GRAPHQL_MAX_MEMBERSHIP_COST,
      maxHistoryScans: e.GRAPHQL_MAX_HISTORY_SCANS,
    },
    membershipEventRetentionDays: e.MEMBERSHIP_EVENT_RETENTION_DAYS,
    membershipStreamRetentionMs: e.MEMBERSHIP_STREAM_RETENTION_HOURS * 3_600_000,
    ...(e.ERASURE_AUDIT_KEY ? { erasureAuditKey: e.ERASURE_AUDIT_KEY } : {}),
    ...(e.ROUTER_SHARED_SECRET ? { routerSecret: { secret: e.ROUTER_SHARED_SECRET, header: e.ROUTER_SECRET_HEADER } } : {}),
    routerOnlyNetwork: e.ROUTER_ONLY_NETWORK,
    maxLiveSegments: e.MAX_LIVE_SEGMENTS,
    apiStatementTimeoutMs: e.API_STATEMENT_TIMEOUT_MS,
    previews: {
      size: e.PREVIEW_POOL_SIZE,
      statementTimeoutMs: e.PREVIEW_STATEMENT_TIMEOUT_MS,
      waitTimeoutMs: e.PREVIEW_POOL_WAIT_TIMEOUT_MS,
      maxConcurrentPerToken: e.PREVIEW_MAX_CONCURRENT_PER_TOKEN,
    },
  };
}

/**
 * What the subgraph role needs besides a valid environment: in production,
 * the router's shared secret, unless ROUTER_ONLY_NETWORK says the network
 * already keeps everyone else out.
 */
export function checkSubgraphConfig(config: Pick<Config, 'nodeEnv' | 'routerSecret' | 'routerOnlyNetwork'>): void {
  if (config.nodeEnv === 'production' && !config.routerSecret && !config.routerOnlyNetwork) {
    throw new ConfigError(
      'Invalid configuration: production needs ROUTER_SHARED_SECRET (the secret the router sends in ROUTER_SECRET_HEADER), ' +
        'or ROUTER_ONLY_NETWORK=true where the network lets only the router reach this port',
    );
  }
}

// Values that may carry a secret: named in errors, never shown.
const SECRET_VARIABLES = new Set(['JWT_SECRET', 'ERASURE_AUDIT_KEY', 'ROUTER_SHARED_SECRET']);
const URL_VARIABLES = new Set(['DATABASE_URL', 'DATABASE_REPLICA_URL', 'REDIS_URL', 'JWT_JWKS_URL']);

/** What a config error may show of the offending value: nothing of a secret, a URL without its credentials. */
function shownValue(name: string, value: string | undefined): string {
  if (value === undefined || SECRET_VARIABLES.has(name)) return '';
  if (URL_VARIABLES.has(name)) return ` (got ${JSON.stringify(value.replace(/\/\/[^@/]*@/, '//***@'))})`;
  return ` (got ${JSON.stringify(value)})`;
}
