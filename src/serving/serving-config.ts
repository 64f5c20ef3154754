// Lives with the stores that read it, so that stores/ never imports the config module.

/** The serving path's budgets (docs/api.md "Serving when a store fails"). */
export interface ServingConfig {
  /** A Redis read slower than this is served from Postgres instead, in ms. @defaultValue 50 */
  redisTimeoutMs: number;
  /** How long reads skip Redis after the breaker opens, before one tries it again, in ms. @defaultValue 5000 */
  breakerResetMs: number;
  /** A Postgres fallback read slower than this serves the defaults, in ms. @defaultValue 1000 */
  postgresTimeoutMs: number;
  /** Answers older than this (`segmentsFreshness.upToDateAt`) are LAGGING, in ms. @defaultValue 10000 */
  laggingAfterMs: number;
  /**
   * How long a process serves a segment's definition from memory before
   * reading it again, in ms: how soon a missed change announcement heals. @defaultValue 5000
   */
  segmentCacheTtlMs: number;
}

export const DEFAULT_SERVING: ServingConfig = { redisTimeoutMs: 50, breakerResetMs: 5000, postgresTimeoutMs: 1000, laggingAfterMs: 10_000, segmentCacheTtlMs: 5000 };
