/**
 * One SQL expression: the time up to which `segment_memberships` reflects
 * every committed change. It is the oldest change still waiting in the change
 * outbox (a claimed row counts until its evaluation commits), the oldest rule
 * change whose computation has not been applied (quarantined segments left
 * out), or the statement's start when nothing waits.
 *
 * Why it holds: a change committed before T is visible to a statement that
 * starts at T; if it were still waiting, its `recorded_at` (the start of its
 * transaction, so before its commit) would be older than T, and T would be no
 * later than that. Read by the publisher, which serves it from Redis once
 * every event visible after reading it is published, and by the Postgres
 * fallback of the serving path.
 *
 * On a streaming replica the statement's start says nothing about what has
 * been replayed: there the bound is the last heartbeat the replica shows
 * (migration 0016), before which every change committed on the primary has
 * been replayed.
 */
export const REFLECTED_UP_TO_SQL = `least(
  CASE WHEN pg_is_in_recovery() THEN (SELECT at FROM replication_heartbeat) ELSE statement_timestamp() END,
  (SELECT min(recorded_at) FROM customer_change_outbox),
  (SELECT min(rule_changed_at) FROM segments
    WHERE kind = 'RULE' AND status = 'ACTIVE' AND quarantined_at IS NULL
      AND (last_computed_at IS NULL OR last_computed_at < rule_changed_at)))`;
