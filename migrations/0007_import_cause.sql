-- Membership events of a CSV import of a STATIC segment's members (issue 9)
-- carry their own cause, so that history tells an ML output from an admin's
-- hand edits.
ALTER TABLE segment_membership_events DROP CONSTRAINT segment_membership_events_cause_check;
ALTER TABLE segment_membership_events
  ADD CONSTRAINT segment_membership_events_cause_check CHECK (cause IN ('schedule', 'event', 'manual', 'import')) NOT VALID;
