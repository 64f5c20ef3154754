-- Memberships and their events are written by the million (a first
-- computation of many segments, an import) and by every event batch: each row
-- paid a foreign-key check against `segments`, a lookup and a KEY SHARE lock
-- on the segment's row (issue 15). Segments are never deleted (they are
-- archived), so the check guards nothing the service does; readers already
-- ignore ids of segments they do not know (the serving catalog), and the
-- event outbox has had no foreign key since 0011 for the same reason.
ALTER TABLE segment_memberships DROP CONSTRAINT IF EXISTS segment_memberships_segment_id_fkey;
ALTER TABLE segment_membership_events DROP CONSTRAINT IF EXISTS segment_membership_events_segment_id_fkey;
