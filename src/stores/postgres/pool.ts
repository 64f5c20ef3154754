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
  /** Postgres' `statement_timeout` of every connection, in ms: the server cancels longer statements. @defaultValue none */
  statementTimeoutMs?: number;
  /**
   * How long a statement's answer may take to arrive, in ms, after which the
   * caller gets an error and the connection is dropped: the bound when the
   * server or the network stops answering. @defaultValue none
   */
  queryTimeoutMs?: number;
  /** How long a caller waits for a connection (a free one, or a new one to be made), in ms. @defaultValue 10000 */
  connectionTimeoutMs?: number;
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
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 10_000,
    ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
    ...(options.queryTimeoutMs ? { query_timeout: options.queryTimeoutMs } : {}),
  });
  const onError = options.onError ?? ((error: Error) => console.error(`postgres idle connection error: ${error.message}`));
  pool.on('error', onError);
  // pg-pool listens for errors of idle clients only: a checked-out client
  // whose connection drops between queries (a held evaluator connection when
  // the database is dropped or restarted) emits 'error' with no listener,
  // which crashes the process. This listener reports it when it is the only
  // one; while the client is idle, the pool's own listener reports it through `onError`.
  pool.on('connect', (client) => {
    client.on('error', (error) => {
      if (client.listenerCount('error') === 1) onError(error);
    });
  });
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
  // A connection lost between statements fails the next one, which the caller sees; the event alone would crash the process.
  client.on('error', () => undefined);
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
