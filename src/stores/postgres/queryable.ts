import type pg from 'pg';

/**
 * A pool, a client inside a transaction, or reads routed between a replica
 * and the primary (`ReadReplica.route`): repositories run on any.
 */
export type Queryable = pg.Pool | pg.PoolClient | Pick<pg.Pool, 'query'>;

/**
 * Runs `work` in a transaction on one client of `pool`: commits when it
 * resolves, rolls back when it throws.
 */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    return await inClientTransaction(client, work);
  } finally {
    client.release();
  }
}

/**
 * Runs `work` in a transaction on a client the caller holds. `begin` may add
 * statements without parameters to the same round trip (a lock to take).
 */
export async function inClientTransaction<T>(client: pg.PoolClient, work: (client: pg.PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  await client.query(begin);
  try {
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
