// Lives with the stores that read it, so that stores/ never imports the config module.

/**
 * The connections previews run on (docs/api.md "Admin API limits"): a pool of
 * their own, apart from the one that serves reads, so that however many
 * previews run, a public read never waits for them.
 */
export interface PreviewPoolConfig {
  /** Connections of the preview pool. @defaultValue 2 */
  size: number;
  /** Postgres' `statement_timeout` on every preview connection, in ms. @defaultValue 5000 */
  statementTimeoutMs: number;
  /**
   * How long a preview waits for a connection (a free one of the pool, or a
   * new one to be made) before it is refused, in ms. @defaultValue 2000
   */
  waitTimeoutMs: number;
}

export const DEFAULT_PREVIEW_POOL: PreviewPoolConfig = { size: 2, statementTimeoutMs: 5000, waitTimeoutMs: 2000 };
