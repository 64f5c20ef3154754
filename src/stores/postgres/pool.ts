import pg from 'pg';

// DATE/TIMESTAMP parsing stays pg's default (JS Date); bigint (int8) columns
// such as orders.total_cents and count(*) arrive as strings, which callers
// convert where they know the range is safe.

export interface PoolOptions {
  /** @defaultValue 10 */
  max?: number;
  /** Shown in pg_stat_activity. @defaultValue `segments-subgraph` */
  applicationName?: string;
  /**
   * Receives errors of idle connections (a Postgres restart, a terminated
   * backend). pg emits them on the pool, and an unhandled one would crash the
   * process. @defaultValue writes to stderr
   */
  onError?: (error: Error) => void;
}

/** Creates a connection pool; the caller owns it and ends it on shutdown. */
export function createPool(databaseUrl: string, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'segments-subgraph',
    // A process that dies mid-statement (a killed worker) leaves a backend
    // running its query and holding its locks; Postgres checks for the lost
    // client every 2 s and cancels it (PostgreSQL 14+).
    options: '-c client_connection_check_interval=2000',
    // A server that accepts no connection (stalled, unreachable) fails the caller instead of holding it forever.
    connectionTimeoutMillis: 10_000,
  });
  pool.on('error', options.onError ?? ((error) => console.error(`postgres idle connection error: ${error.message}`)));
  return pool;
}

/**
 * Creates the database named in `databaseUrl` when it does not exist yet, so a
 * fresh machine only needs a running server. Connects to the server's
 * `postgres` database to do so. Safe to call from several processes at once.
 */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!database) return;
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (rowCount) return;
    try {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`);
    } catch (error) {
      // Another process created it between our check and our CREATE.
      const code = (error as { code?: string }).code;
      if (code !== '42P04' && code !== '23505') throw error;
    }
  } finally {
    await client.end();
  }
}
