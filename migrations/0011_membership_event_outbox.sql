-- Membership events become insert-only (issue 9, the member import): which
-- events still wait for publication moves out of the events table into a
-- narrow outbox of their ids. Stamping `published_at` rewrote every event,
-- with its five index entries, once more (a non-HOT update: the partial index
-- of unpublished events reads the column); at a million events an import, that
-- write was the largest cost of publication, and the dead versions it left
-- slowed every later read. Deleting an id from a one-column table is a
-- fraction of it, and the events table is never updated again.

CREATE TABLE membership_event_outbox (
  -- No foreign key: its check would cost every insert of a million events a
  -- lookup. The publisher drops ids whose event is gone.
  event_id bigint PRIMARY KEY
);

INSERT INTO membership_event_outbox (event_id) SELECT id FROM segment_membership_events WHERE published_at IS NULL;

-- Every writer of events (evaluations, recomputes, admin changes, imports)
-- fills the outbox by this one statement-level trigger: one INSERT of a
-- million events is one INSERT of their ids.
CREATE FUNCTION segments_membership_event_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO membership_event_outbox (event_id) SELECT id FROM new_events;
  RETURN NULL;
END
$$;
CREATE TRIGGER segments_membership_event_outbox AFTER INSERT ON segment_membership_events
  REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION segments_membership_event_outbox();

DROP INDEX segment_membership_events_unpublished_idx;
ALTER TABLE segment_membership_events DROP COLUMN published_at;
ALTER TABLE membership_event_outbox SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000);
