-- Membership history and its retention (issue 9, items 2 and 8).
--
-- The migrator runs each file in one transaction, so these indexes are built
-- with a plain CREATE INDEX, which blocks writes to segment_membership_events
-- while it runs. On a production table of hundreds of millions of rows, build
-- them first by hand, outside a transaction, with
--   CREATE INDEX CONCURRENTLY IF NOT EXISTS <the same definition>;
-- and this migration then finds them in place (IF NOT EXISTS) and only records
-- itself.

-- Segment.membershipChanges (newest first, optionally `since`) and
-- Segment.sizeHistory (net change per day from a point in time): one range of
-- this index each. `change` is carried along so that sizeHistory can be
-- answered from the index alone once the visibility map is set.
CREATE INDEX IF NOT EXISTS segment_membership_events_segment_at_idx
  ON segment_membership_events (segment_id, at, id) INCLUDE (change);

-- Customer.segmentHistory, newest first (a single membership's history is read
-- from segment_membership_events_membership_idx instead).
CREATE INDEX IF NOT EXISTS segment_membership_events_customer_at_idx
  ON segment_membership_events (customer_id, at, id);

-- How far retention has gone (src/stores/postgres/membership-event-retention.ts).
-- One row. Events with an id up to `scanned_up_to` have been looked at:
-- those left there are the latest of their membership. Events that happened
-- before `pruned_before` may have been dropped, so history before it is
-- incomplete.
CREATE TABLE membership_event_retention (
  singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  scanned_up_to  bigint NOT NULL DEFAULT 0,
  pruned_before  timestamptz
);
INSERT INTO membership_event_retention DEFAULT VALUES;
