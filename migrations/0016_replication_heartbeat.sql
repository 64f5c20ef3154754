-- How far a streaming replica has replayed the primary (issue 17).
--
-- The workers set `at` to now() on the primary every second. Commits reach
-- the WAL in commit order, so once a replica shows a heartbeat, it shows
-- every change committed on the primary before that heartbeat's `at`: read on
-- a replica, the freshness watermark is bounded by it, and its age is the
-- replica's lag (plus up to a heartbeat period and the clocks' skew). An idle
-- primary keeps beating, so an idle replica does not look behind, as it would
-- by pg_last_xact_replay_timestamp() alone.
CREATE TABLE replication_heartbeat (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  at timestamptz NOT NULL
);
INSERT INTO replication_heartbeat (at) VALUES (now());
