import type pg from 'pg';
import { ADVISORY_LOCKS } from './advisory-locks.js';

const SERVING_STORE_LOCK = ADVISORY_LOCKS.SERVING_STORE;

export class ServingStoreBusyError extends Error {
  override name = 'ServingStoreBusyError';
}

/**
 * Runs `work` on a dedicated client holding the serving-store lock. Waits at
 * most `waitMs` for it, then throws ServingStoreBusyError.
 */
export async function withServingStoreLock<T>(pool: pg.Pool, waitMs: number, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let locked = false;
  try {
    await client.query(`SET lock_timeout = ${Math.max(1, Math.floor(waitMs))}`);
    try {
      await client.query('SELECT pg_advisory_lock($1)', [SERVING_STORE_LOCK]);
      locked = true;
    } catch (error) {
      if ((error as { code?: string }).code === '55P03') throw new ServingStoreBusyError('serving store is being written by another process');
      throw error;
    } finally {
      await client.query('RESET lock_timeout');
    }
    return await work(client);
  } finally {
    if (locked) await client.query('SELECT pg_advisory_unlock($1)', [SERVING_STORE_LOCK]).catch(() => undefined);
    client.release();
  }
}
