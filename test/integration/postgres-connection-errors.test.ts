import { describe, expect, it } from 'vitest';
import { createPool } from '../../src/stores/postgres/pool.js';
import { TEST_POSTGRES_URL } from '../helpers/test-environment.js';

// The change evaluator holds a pool client between batches; when its backend
// goes away (the database dropped, Postgres restarted) the client emits
// 'error' outside any query, which crashed a process with no listener.
describe('a pooled connection that is lost', () => {
  it.each([
    ['while checked out, between queries', true],
    ['while idle in the pool', false],
  ])('is reported once to onError %s, without crashing the process', async (_case, checkedOut) => {
    const errors: Error[] = [];
    let reported!: () => void;
    const firstError = new Promise<void>((resolve) => (reported = resolve));
    const pool = createPool(`${TEST_POSTGRES_URL}/postgres`, {
      max: 1,
      onError: (error) => {
        errors.push(error);
        reported();
      },
    });
    const admin = createPool(`${TEST_POSTGRES_URL}/postgres`, { max: 1 });
    try {
      const client = await pool.connect();
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      if (!checkedOut) client.release();
      await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
      await firstError;
      // The next statement on a lost connection fails the caller instead.
      if (checkedOut) {
        await expect(client.query('SELECT 1')).rejects.toThrow();
        client.release(true);
      }
      await pool.query('SELECT 1');
      expect(errors).toHaveLength(1);
      expect(errors[0]!.message).toMatch(/terminat/i);
    } finally {
      await Promise.all([pool.end(), admin.end()]);
    }
  });
});
