-- The event path at many segments (issue 15): rules are evaluated in the
-- worker over each batch's rows, so the database keeps only what that needs.

-- 1. The change outbox is partitioned by customer: each evaluator process
-- drains the partitions it holds (a session advisory lock per partition), so
-- several processes evaluate disjoint customers at once and each customer's
-- changes are always taken by one of them. `hashtext & 63` is never negative.
ALTER TABLE customer_change_outbox
  ADD COLUMN partition smallint GENERATED ALWAYS AS ((hashtext(customer_id) & 63)::smallint) STORED,
  -- The customer columns an UPDATE of `customers` changed (`country`, `city`,
  -- `createdAt`, `attributes.<key>`): only segments reading one of them can
  -- change. NULL with store_ids and segment_ids NULL still means every segment.
  ADD COLUMN fields text[];

-- Who evaluates: every evaluator process announces itself here every second,
-- and holds ceil(64 / live processes) partitions (README "Event path").
CREATE UNLOGGED TABLE evaluator_members (
  member_id  text PRIMARY KEY,
  seen_at    timestamptz NOT NULL
);

-- 2. Sizes move by deltas: the event path inserts its net change per segment
-- instead of updating the segment's row, so evaluations never lock a segment
-- and never wait behind an admin or each other. Readers add the deltas not
-- folded yet; a worker folds them into segments.size every second.
CREATE TABLE segment_size_deltas (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  segment_id  integer NOT NULL,
  delta       integer NOT NULL
);
CREATE INDEX segment_size_deltas_segment_idx ON segment_size_deltas (segment_id);
ALTER TABLE segment_size_deltas SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000);

-- 3. The revision of the live rule set: bumped in the same transaction as any
-- change of which rules are live. The evaluator reads it in every batch and
-- reloads its rule index before evaluating when it moved, so no batch that
-- starts after a rule change commits evaluates with the old rules (a
-- recompute's snapshot, taken after the change, leaves the rest to them).
CREATE TABLE segment_rule_revision (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  revision   bigint NOT NULL
);
INSERT INTO segment_rule_revision (revision) VALUES (1);

CREATE FUNCTION segments_bump_rule_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE segment_rule_revision SET revision = revision + 1;
  RETURN NULL;
END
$$;
CREATE TRIGGER segments_rule_revision_changes AFTER INSERT OR DELETE OR UPDATE OF rule, version, status, kind ON segments
  FOR EACH STATEMENT EXECUTE FUNCTION segments_bump_rule_revision();

-- 4. Customer updates name the columns they changed (UPDATE now also reads the
-- old rows). A new or removed customer, or a changed id, still counts for
-- every segment.
CREATE OR REPLACE FUNCTION segments_capture_customer_changes() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO customer_change_outbox (customer_id) SELECT DISTINCT id FROM old_customers;
  ELSIF TG_OP = 'INSERT' THEN
    INSERT INTO customer_change_outbox (customer_id) SELECT DISTINCT id FROM new_customers;
  ELSE
    INSERT INTO customer_change_outbox (customer_id, fields)
    SELECT id, fields FROM (
      SELECT n.id, ARRAY(
               SELECT 'country' WHERE o.country IS DISTINCT FROM n.country
               UNION ALL SELECT 'city' WHERE o.city IS DISTINCT FROM n.city
               UNION ALL SELECT 'createdAt' WHERE o.created_at IS DISTINCT FROM n.created_at
               UNION ALL
               SELECT 'attributes.' || k.key
                 FROM (SELECT jsonb_object_keys(coalesce(o.attributes, '{}')) UNION SELECT jsonb_object_keys(coalesce(n.attributes, '{}'))) AS k (key)
                WHERE o.attributes -> k.key IS DISTINCT FROM n.attributes -> k.key
             ) AS fields
        FROM new_customers n JOIN old_customers o ON o.id = n.id
    ) changed
     WHERE cardinality(fields) > 0;
    -- Ids that an UPDATE changed: both the old and the new customer count for every segment.
    INSERT INTO customer_change_outbox (customer_id)
    SELECT id FROM ((SELECT id FROM new_customers EXCEPT SELECT id FROM old_customers)
                    UNION (SELECT id FROM old_customers EXCEPT SELECT id FROM new_customers)) moved;
  END IF;
  RETURN NULL;
END
$$;
-- CREATE OR REPLACE drops the function's settings: its search_path again (as in 0005).
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION segments_capture_customer_changes() SET search_path = %I, pg_temp', current_schema());
END
$$;
REVOKE ALL ON FUNCTION segments_capture_customer_changes() FROM PUBLIC;

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'segments_customer_updates' AND tgrelid = to_regclass('customers')) THEN
    DROP TRIGGER segments_customer_updates ON customers;
    CREATE TRIGGER segments_customer_updates AFTER UPDATE ON customers
      REFERENCING OLD TABLE AS old_customers NEW TABLE AS new_customers
      FOR EACH STATEMENT EXECUTE FUNCTION segments_capture_customer_changes();
  END IF;
END
$$;
