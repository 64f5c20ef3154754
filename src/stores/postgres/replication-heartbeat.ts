import type { Queryable } from './queryable.js';

/** The primary's heartbeat, and how far behind it a replica is (migration 0016). */
export class ReplicationHeartbeat {
  constructor(private readonly db: Queryable) {}

  /** On the primary: the heartbeat is now. */
  async beat(): Promise<void> {
    await this.db.query('UPDATE replication_heartbeat SET at = now()');
  }

  /**
   * On a replica: how long ago (on this server's clock) the newest heartbeat
   * it has replayed was written, in ms; 0 on the primary itself.
   */
  async lagMs(): Promise<number> {
    const { rows } = await this.db.query<{ lag: number }>(
      `SELECT CASE WHEN pg_is_in_recovery() THEN greatest(0, extract(epoch FROM clock_timestamp() - at) * 1000) ELSE 0 END::float8 AS lag
         FROM replication_heartbeat`,
    );
    return rows[0]?.lag ?? Number.POSITIVE_INFINITY;
  }
}
