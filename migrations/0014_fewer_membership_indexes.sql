-- Fewer index entries per membership change (issue 15).
--
-- Every flip writes a membership row and an event; at 1,000 segments the
-- writes were over half of the event path's time, and the events' five index
-- entries most of a first computation's (547,643 events: 9.8 s, of which the
-- (segment_id, customer_id, id) index alone took 4.8 s). Each index on a
-- customer-leading or membership-leading key costs a random page per flip.
--
-- * Events lose the membership index (segment_id, customer_id, id). The one
--   customer index carries segment_id, so a single membership's history, the
--   retention's "is there a newer event of this membership" and erasure are
--   ranges of the customer's few entries, filtered in the index.
-- * A customer's memberships are read from the index alone
--   ((customer_id, segment_id) instead of (customer_id)): the event path's
--   batch read and the serving fallback no longer visit one heap page per
--   membership. Same number of entries per write.
--
-- As in 0008, the migrator runs this in one transaction, so the new indexes
-- are built with a plain CREATE INDEX, which blocks writes to these tables
-- while it runs. On production tables, build them first by hand, outside a
-- transaction, with
--   CREATE INDEX CONCURRENTLY IF NOT EXISTS <the same definition>;
-- and this migration finds them in place and only drops the old ones.

CREATE INDEX IF NOT EXISTS segment_membership_events_customer_idx
  ON segment_membership_events (customer_id, at, id) INCLUDE (segment_id);
DROP INDEX IF EXISTS segment_membership_events_customer_at_idx;
DROP INDEX IF EXISTS segment_membership_events_membership_idx;

CREATE INDEX IF NOT EXISTS segment_memberships_customer_idx
  ON segment_memberships (customer_id, segment_id);
DROP INDEX IF EXISTS segment_memberships_customer_id_idx;
