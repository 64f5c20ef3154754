-- The membership pipeline at production scale (issue 7): every change of
-- orders and customers feeds one change outbox that the evaluator drains in
-- batches; event evaluations are journaled so that a full recompute never
-- overwrites a newer one; segments carry their time-maintenance watermark and
-- their quarantine state.

-- 1. The change outbox replaces the order outbox. One row per customer per
-- writing statement (a bulk INSERT of a thousand orders of one customer is one
-- row), with the stores whose orders changed: only segments that read those
-- stores (or any store) can change. store_ids NULL means every segment (the
-- customer row itself changed, or the order is unknown); segment_ids, when set,
-- names the segments to evaluate (time maintenance: customers with an order
-- that crossed a window edge).
CREATE TABLE customer_change_outbox (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer_id  text NOT NULL,
  store_ids    text[],
  segment_ids  integer[],
  recorded_at  timestamptz NOT NULL DEFAULT now()
);
-- The fresh lane claims the newest rows first (README "Event path").
CREATE INDEX customer_change_outbox_recorded_at_idx ON customer_change_outbox (recorded_at);

INSERT INTO customer_change_outbox (customer_id, recorded_at) SELECT customer_id, created_at FROM order_outbox;
DROP TRIGGER IF EXISTS segments_order_outbox ON orders;
DROP FUNCTION segments_order_outbox();
DROP TABLE order_outbox;

-- The trigger functions run with the rights of the owner of the outbox, not of
-- the writer (a role that may insert orders but has no rights here), with a
-- fixed search_path so that a writer's objects can never stand in for ours.
-- They never NOTIFY: NOTIFY takes a global lock at commit and would serialise
-- every order writer; the evaluator polls the outbox instead.
CREATE FUNCTION segments_capture_order_changes() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO customer_change_outbox (customer_id, store_ids)
    SELECT customer_id, array_agg(DISTINCT store_id) FROM new_orders GROUP BY customer_id;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO customer_change_outbox (customer_id, store_ids)
    SELECT customer_id, array_agg(DISTINCT store_id) FROM old_orders GROUP BY customer_id;
  ELSE
    -- An update can move an order between stores or customers: both sides count.
    INSERT INTO customer_change_outbox (customer_id, store_ids)
    SELECT customer_id, array_agg(DISTINCT store_id)
      FROM (SELECT customer_id, store_id FROM old_orders UNION ALL SELECT customer_id, store_id FROM new_orders) o
     GROUP BY customer_id;
  END IF;
  RETURN NULL;
END
$$;

CREATE FUNCTION segments_capture_customer_changes() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO customer_change_outbox (customer_id) SELECT DISTINCT id FROM old_customers;
  ELSE
    INSERT INTO customer_change_outbox (customer_id) SELECT DISTINCT id FROM new_customers;
  END IF;
  RETURN NULL;
END
$$;

DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION segments_capture_order_changes() SET search_path = %I, pg_temp', current_schema());
  EXECUTE format('ALTER FUNCTION segments_capture_customer_changes() SET search_path = %I, pg_temp', current_schema());
END
$$;
REVOKE ALL ON FUNCTION segments_capture_order_changes() FROM PUBLIC;
REVOKE ALL ON FUNCTION segments_capture_customer_changes() FROM PUBLIC;

-- Installed only on tables this role owns (see README "Order history"); the
-- worker installs or removes them at start (ORDER_OUTBOX_TRIGGER).
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_class WHERE oid = to_regclass('orders') AND relkind IN ('r', 'p')
               AND pg_has_role(relowner, 'MEMBER')) THEN
    CREATE TRIGGER segments_order_inserts AFTER INSERT ON orders REFERENCING NEW TABLE AS new_orders
      FOR EACH STATEMENT EXECUTE FUNCTION segments_capture_order_changes();
    CREATE TRIGGER segments_order_updates AFTER UPDATE ON orders REFERENCING OLD TABLE AS old_orders NEW TABLE AS new_orders
      FOR EACH STATEMENT EXECUTE FUNCTION segments_capture_order_changes();
    CREATE TRIGGER segments_order_deletes AFTER DELETE ON orders REFERENCING OLD TABLE AS old_orders
      FOR EACH STATEMENT EXECUTE FUNCTION segments_capture_order_changes();
    -- Time maintenance finds the orders that crossed a window edge since its
    -- last run by their time, whatever their store.
    CREATE INDEX IF NOT EXISTS orders_created_at_idx ON orders (created_at) INCLUDE (customer_id, store_id);
  END IF;
  IF EXISTS (SELECT 1 FROM pg_class WHERE oid = to_regclass('customers') AND relkind IN ('r', 'p')
               AND pg_has_role(relowner, 'MEMBER')) THEN
    CREATE TRIGGER segments_customer_inserts AFTER INSERT ON customers REFERENCING NEW TABLE AS new_customers
      FOR EACH STATEMENT EXECUTE FUNCTION segments_capture_customer_changes();
    CREATE TRIGGER segments_customer_updates AFTER UPDATE ON customers REFERENCING NEW TABLE AS new_customers
      FOR EACH STATEMENT EXECUTE FUNCTION segments_capture_customer_changes();
    CREATE TRIGGER segments_customer_deletes AFTER DELETE ON customers REFERENCING OLD TABLE AS old_customers
      FOR EACH STATEMENT EXECUTE FUNCTION segments_capture_customer_changes();
  END IF;
END
$$;

-- 2. The evaluation journal: which customers the event path evaluated for a
-- segment version, and when, while a full recompute of the segment is
-- computing. A recompute computed as of T leaves alone the customers
-- evaluated after T (their answer is newer than its own). Old rows are purged
-- by time maintenance.
CREATE TABLE segment_evaluations (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  segment_id    integer NOT NULL,
  version       integer NOT NULL,
  evaluated_at  timestamptz NOT NULL,
  customer_ids  text[] NOT NULL
);
CREATE INDEX segment_evaluations_segment_idx ON segment_evaluations (segment_id, evaluated_at);

-- 3. Per segment: since when a full recompute is computing (the event path
-- journals its evaluations of the segment only then), until when time passing
-- has been applied (relative windows), and the quarantine of a rule that
-- fails at run time.
ALTER TABLE segments
  ADD COLUMN computing_since timestamptz,
  ADD COLUMN time_evaluated_at timestamptz,
  ADD COLUMN compute_error text,
  ADD COLUMN quarantined_at timestamptz;

-- The events table is the outbox of the serving store: the publisher reads
-- the unpublished ones in id order (the partial index) and must find them
-- cheaply however large the table grows.
ALTER TABLE segment_membership_events SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE segment_memberships SET (autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE customer_change_outbox SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000);
