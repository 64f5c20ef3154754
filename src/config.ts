import { z } from 'zod';

/**
 * The service's settings, read from the environment once at start-up.
 * Every field has a default that works on a developer machine with the local
 * Postgres and Redis; production sets them explicitly.
 */
export interface Config {
  /** Postgres connection string. The database is created on start if missing. */
  databaseUrl: string;
  /** Redis connection string for the serving store, pub/sub and queues. */
  redisUrl: string;
  /**
   * Prepended to every Redis key, channel and queue name, so several
   * deployments (or test runs) can share one Redis.
   * @defaultValue `segments:`
   */
  redisPrefix: string;
  /** HTTP port of the subgraph. @defaultValue 4001 */
  port: number;
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
}

/**
 * Admin tokens are JWTs, verified with `secret` (HS256) or the keys at
 * `jwksUrl`. With neither, every admin operation is refused.
 */
export interface AuthConfig {
  secret?: string;
  jwksUrl?: URL;
  issuer?: string;
  audience?: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const booleanString = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

const environmentSchema = z.object({
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .default('postgres://postgres@127.0.0.1:5432/segments'),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .default('redis://127.0.0.1:6379'),
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
  NODE_ENV: z.string().default('development'),
  GRAPHQL_INTROSPECTION: booleanString.optional(),
  GRAPHQL_LANDING_PAGE: booleanString.optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // HS256 needs a key at least as long as the hash: 256 bits.
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  JWT_JWKS_URL: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).optional(),
  JWT_ISSUER: z.string().optional(),
  JWT_AUDIENCE: z.string().optional(),
  FEDERATION_AUTH_DIRECTIVES: booleanString.default(false),
  ORDER_OUTBOX_TRIGGER: booleanString.default(true),
  WORKER_LOCK_DURATION_MS: z.coerce
    .number({ message: 'must be a number' })
    .int('must be a whole number')
    .min(1000, 'must be between 1000 and 600000')
    .max(600_000, 'must be between 1000 and 600000')
    .default(30_000),
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
    throw new ConfigError(`Invalid configuration: ${name} ${message} (got ${JSON.stringify(env[name])})`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  return {
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    redisPrefix: e.REDIS_PREFIX,
    port: e.PORT,
    nodeEnv: e.NODE_ENV,
    introspection: e.GRAPHQL_INTROSPECTION ?? !production,
    landingPage: e.GRAPHQL_LANDING_PAGE ?? !production,
    logLevel: e.LOG_LEVEL,
    auth: {
      ...(e.JWT_SECRET ? { secret: e.JWT_SECRET } : {}),
      ...(e.JWT_JWKS_URL ? { jwksUrl: new URL(e.JWT_JWKS_URL) } : {}),
      ...(e.JWT_ISSUER ? { issuer: e.JWT_ISSUER } : {}),
      ...(e.JWT_AUDIENCE ? { audience: e.JWT_AUDIENCE } : {}),
    },
    federationAuthDirectives: e.FEDERATION_AUTH_DIRECTIVES,
    orderOutboxTrigger: e.ORDER_OUTBOX_TRIGGER,
    workerLockDurationMs: e.WORKER_LOCK_DURATION_MS,
  };
}
