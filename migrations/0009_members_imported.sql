-- A CSV import that replaces a STATIC segment's members (issue 9,
-- PUT /admin/segments/{id}/members) is recorded in the segment's history as
-- one change of its own, whatever the number of customers it moved.
ALTER TABLE segment_history DROP CONSTRAINT segment_history_action_check;
ALTER TABLE segment_history
  ADD CONSTRAINT segment_history_action_check CHECK (action IN
    ('CREATED', 'UPDATED', 'ARCHIVED', 'RECOMPUTE_REQUESTED', 'MEMBERS_ADDED', 'MEMBERS_REMOVED', 'MEMBERS_IMPORTED')) NOT VALID;
