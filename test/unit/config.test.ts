import { describe, expect, it } from 'vitest';
import { checkSubgraphConfig, ConfigError, loadConfig } from '../../src/platform/config.js';

describe('loadConfig', () => {
  it('works with no environment at all, for the local servers', () => {
    expect(loadConfig({})).toEqual({
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/segments',
      redis: { url: 'redis://127.0.0.1:6379' },
      redisPrefix: 'segments:',
      port: 4001,
      workerPort: 4002,
      nodeEnv: 'development',
      introspection: true,
      landingPage: true,
      logLevel: 'info',
      auth: { maxTokenAgeSeconds: 86_400 },
      federationAuthDirectives: false,
      orderOutboxTrigger: true,
      workerLockDurationMs: 30_000,
      ddlLockTimeoutMs: 5000,
      servingReconcileBatch: 500,
      serving: { redisTimeoutMs: 50, breakerResetMs: 5000, postgresTimeoutMs: 1000, laggingAfterMs: 10_000, segmentCacheTtlMs: 5000 },
      limits: { maxDepth: 15, maxAliases: 30, maxTokens: 5000, maxCost: 5000, maxRepresentations: 2000, maxMembershipCost: 10_000, maxHistoryScans: 20 },
      compiledExecution: true,
      membershipEventRetentionDays: 180,
      membershipStreamRetentionMs: 7 * 24 * 3_600_000,
      previews: { size: 2, statementTimeoutMs: 5000, waitTimeoutMs: 2000, maxConcurrentPerToken: 1 },
      memberImportMaxBytes: 268_435_456,
      routerOnlyNetwork: false,
      timeouts: { headersMs: 10_000, bodyIdleMs: 10_000 },
      maxLiveSegments: 100_000,
      apiStatementTimeoutMs: 30_000,
    });
  });

  it.each([
    [{ NODE_ENV: 'production' }, { introspection: false, landingPage: false }],
    [{ NODE_ENV: 'production', GRAPHQL_INTROSPECTION: 'true' }, { introspection: true, landingPage: false }],
    [{ GRAPHQL_LANDING_PAGE: '0' }, { introspection: true, landingPage: false }],
    [{ PORT: '8080', REDIS_PREFIX: 'eu-1:segments:' }, { port: 8080, redisPrefix: 'eu-1:segments:' }],
    [{ WORKER_PORT: '9464' }, { workerPort: 9464 }],
    [{ PORT: '' }, { port: 4001 }],
    [
      { JWT_SECRET: 'x'.repeat(32), JWT_ISSUER: 'https://auth.example', JWT_AUDIENCE: 'segments' },
      { auth: { secret: 'x'.repeat(32), issuer: 'https://auth.example', audience: 'segments' } },
    ],
    [
      { JWT_JWKS_URL: 'https://auth.example/.well-known/jwks.json', JWT_ISSUER: 'https://auth.example', JWT_AUDIENCE: 'segments', JWT_MAX_TOKEN_AGE_SECONDS: '3600' },
      { auth: { jwksUrl: new URL('https://auth.example/.well-known/jwks.json'), issuer: 'https://auth.example', audience: 'segments', maxTokenAgeSeconds: 3600 } },
    ],
    [{ FEDERATION_AUTH_DIRECTIVES: 'true' }, { federationAuthDirectives: true }],
    [{ GRAPHQL_COMPILED_EXECUTION: 'false' }, { compiledExecution: false }],
    [{ MEMBER_IMPORT_MAX_BYTES: '1048576' }, { memberImportMaxBytes: 1_048_576 }],
    [{ ORDER_OUTBOX_TRIGGER: 'false', WORKER_LOCK_DURATION_MS: '5000' }, { orderOutboxTrigger: false, workerLockDurationMs: 5000 }],
    [
      { SERVING_REDIS_TIMEOUT_MS: '20', SERVING_BREAKER_RESET_MS: '2000', SERVING_POSTGRES_TIMEOUT_MS: '300', FRESHNESS_LAGGING_AFTER_MS: '60000', SEGMENT_CACHE_TTL_MS: '1000' },
      { serving: { redisTimeoutMs: 20, breakerResetMs: 2000, postgresTimeoutMs: 300, laggingAfterMs: 60_000, segmentCacheTtlMs: 1000 } },
    ],
    [
      { GRAPHQL_MAX_DEPTH: '10', GRAPHQL_MAX_ALIASES: '0', GRAPHQL_MAX_REPRESENTATIONS: '500', GRAPHQL_MAX_MEMBERSHIP_COST: '1500' },
      { limits: { maxDepth: 10, maxAliases: 0, maxTokens: 5000, maxCost: 5000, maxRepresentations: 500, maxMembershipCost: 1500 } },
    ],
    [
      { MEMBERSHIP_EVENT_RETENTION_DAYS: '30', MEMBERSHIP_STREAM_RETENTION_HOURS: '24' },
      { membershipEventRetentionDays: 30, membershipStreamRetentionMs: 86_400_000 },
    ],
    [
      { PREVIEW_POOL_SIZE: '4', PREVIEW_STATEMENT_TIMEOUT_MS: '15000', PREVIEW_POOL_WAIT_TIMEOUT_MS: '500', PREVIEW_MAX_CONCURRENT_PER_TOKEN: '2' },
      { previews: { size: 4, statementTimeoutMs: 15_000, waitTimeoutMs: 500, maxConcurrentPerToken: 2 } },
    ],
    [{ ROUTER_SHARED_SECRET: 'r'.repeat(32) }, { routerSecret: { secret: 'r'.repeat(32), header: 'Router-Authorization' } }],
    [{ ROUTER_SHARED_SECRET: 'r'.repeat(40), ROUTER_SECRET_HEADER: 'X-Segments-Secret' }, { routerSecret: { secret: 'r'.repeat(40), header: 'X-Segments-Secret' } }],
    [{ ROUTER_ONLY_NETWORK: 'true' }, { routerOnlyNetwork: true }],
    [{ HOST: '127.0.0.1', METRICS_PORT: '9464' }, { host: '127.0.0.1', metricsPort: 9464 }],
    [{ HTTP_HEADERS_TIMEOUT_MS: '5000', HTTP_BODY_IDLE_TIMEOUT_MS: '3000' }, { timeouts: { headersMs: 5000, bodyIdleMs: 3000 } }],
    [{ NODE_ENV: 'test' }, { nodeEnv: 'test' }],
    [{ SERVING_RECONCILE_BATCH: '0' }, { servingReconcileBatch: 0 }],
    [{ SERVING_RECONCILE_BATCH: '2000' }, { servingReconcileBatch: 2000 }],
    [{ REDIS_CLUSTER_NODES: 'redis-a:7000, redis-b:7001,10.0.0.3:7002' }, { redis: { clusterNodes: [{ host: 'redis-a', port: 7000 }, { host: 'redis-b', port: 7001 }, { host: '10.0.0.3', port: 7002 }] } }],
    [{ REDIS_CLUSTER_NODES: 'redis-a:7000', REDIS_URL: 'redis://elsewhere:6379' }, { redis: { clusterNodes: [{ host: 'redis-a', port: 7000 }] } }],
  ])('reads %j', (env, expected) => {
    expect(loadConfig(env)).toMatchObject(expected);
  });

  it.each([
    [{ PORT: 'abc' }, 'Invalid configuration: PORT must be a number (got "abc")'],
    [{ PORT: '70000' }, 'Invalid configuration: PORT must be between 1 and 65535 (got "70000")'],
    [{ PORT: '80.5' }, 'Invalid configuration: PORT must be a whole number (got "80.5")'],
    [{ DATABASE_URL: 'mysql://db/segments' }, 'Invalid configuration: DATABASE_URL must be a postgres:// or postgresql:// URL (got "mysql://db/segments")'],
    [{ REDIS_URL: '127.0.0.1:6379' }, 'Invalid configuration: REDIS_URL must be a redis:// or rediss:// URL (got "127.0.0.1:6379")'],
    [{ REDIS_CLUSTER_NODES: 'redis-a' }, 'Invalid configuration: REDIS_CLUSTER_NODES must be a comma-separated list of host:port (got "redis-a")'],
    [{ REDIS_CLUSTER_NODES: 'redis-a:7000,redis-b:70000' }, 'Invalid configuration: REDIS_CLUSTER_NODES ports must be between 1 and 65535 (got "redis-a:7000,redis-b:70000")'],
    [{ REDIS_PREFIX: 'has space' }, 'Invalid configuration: REDIS_PREFIX must be 1-64 characters of letters, digits and : _ . - (got "has space")'],
    [{ LOG_LEVEL: 'loud' }, 'Invalid configuration: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "loud")'],
    [{ WORKER_LOCK_DURATION_MS: '10' }, 'Invalid configuration: WORKER_LOCK_DURATION_MS must be between 1000 and 600000 (got "10")'],
    [{ SERVING_REDIS_TIMEOUT_MS: '0' }, 'Invalid configuration: SERVING_REDIS_TIMEOUT_MS must be between 1 and 10000 (got "0")'],
    [{ MEMBERSHIP_EVENT_RETENTION_DAYS: '0' }, 'Invalid configuration: MEMBERSHIP_EVENT_RETENTION_DAYS must be between 1 and 36500 (got "0")'],
    [{ MEMBERSHIP_STREAM_RETENTION_HOURS: '1.5' }, 'Invalid configuration: MEMBERSHIP_STREAM_RETENTION_HOURS must be a whole number (got "1.5")'],
    [{ PREVIEW_POOL_SIZE: '0' }, 'Invalid configuration: PREVIEW_POOL_SIZE must be between 1 and 100 (got "0")'],
    [{ PREVIEW_STATEMENT_TIMEOUT_MS: '10' }, 'Invalid configuration: PREVIEW_STATEMENT_TIMEOUT_MS must be between 100 and 600000 (got "10")'],
    // Secrets are never shown, nor the password of a URL.
    [{ JWT_SECRET: 'short' }, /^Invalid configuration: JWT_SECRET must be at least 32 characters$/],
    [{ ERASURE_AUDIT_KEY: 'short-key' }, /^Invalid configuration: ERASURE_AUDIT_KEY must be at least 32 characters$/],
    [{ DATABASE_URL: 'mysql://app:s3cret@db/segments' }, 'Invalid configuration: DATABASE_URL must be a postgres:// or postgresql:// URL (got "mysql://***@db/segments")'],
    [{ JWT_JWKS_URL: 'https://idp.example/jwks.json', JWT_ISSUER: 'https://idp.example' }, 'Invalid configuration: JWT_JWKS_URL needs JWT_ISSUER and JWT_AUDIENCE too'],
    [{ JWT_JWKS_URL: 'http://idp.example/jwks.json', JWT_ISSUER: 'i', JWT_AUDIENCE: 'a', NODE_ENV: 'production' }, 'Invalid configuration: JWT_JWKS_URL must be an https URL in production'],
    [{ JWT_JWKS_URL: 'ftp://keys' }, 'Invalid configuration: JWT_JWKS_URL must be an http(s) URL (got "ftp://keys")'],
    [{ GRAPHQL_INTROSPECTION: 'yes' }, /^Invalid configuration: GRAPHQL_INTROSPECTION must be one of .*\(got "yes"\)$/],
    [{ METRICS_PORT: '0' }, 'Invalid configuration: METRICS_PORT must be between 1 and 65535 (got "0")'],
    [{ HOST: 'a host' }, 'Invalid configuration: HOST must be a host name or an IP address (got "a host")'],
    [{ NODE_ENV: 'prod' }, 'Invalid configuration: NODE_ENV must be one of development, production, test (got "prod")'],
    [{ ROUTER_SHARED_SECRET: 'short-secret' }, /^Invalid configuration: ROUTER_SHARED_SECRET must be at least 32 characters$/],
    [{ ROUTER_SHARED_SECRET: 'r'.repeat(32), ROUTER_SECRET_HEADER: 'Bad Header' }, 'Invalid configuration: ROUTER_SECRET_HEADER must be a header name: 1-64 letters, digits and - (got "Bad Header")'],
  ])('rejects %j in one line naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});

describe('checkSubgraphConfig', () => {
  it.each([
    [{ NODE_ENV: 'production' }, 'Invalid configuration: production needs ROUTER_SHARED_SECRET'],
    [{ NODE_ENV: 'production', ROUTER_SHARED_SECRET: 'r'.repeat(32) }, null],
    [{ NODE_ENV: 'production', ROUTER_ONLY_NETWORK: 'true' }, null],
    [{ NODE_ENV: 'production', ROUTER_ONLY_NETWORK: 'false' }, 'Invalid configuration: production needs ROUTER_SHARED_SECRET'],
    [{}, null],
  ])('with %j: %s', (env, refusal) => {
    const check = () => checkSubgraphConfig(loadConfig(env));
    if (refusal) expect(check).toThrow(refusal);
    else expect(check).not.toThrow();
  });
});
