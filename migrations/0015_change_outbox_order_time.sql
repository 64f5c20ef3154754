-- An order costs the conditions whose window contains it (issue 15).
--
-- A change of orders records, besides their stores, the creation time of the
-- newest order it touched (the old and the new row of an update both count).
-- A condition that reads only orders since some instant (`withinDays`,
-- `since`, lastOrder's `withinDays`) cannot change because of orders older
-- than that, so a backfill of last year's orders, or an update of an old
-- order, evaluates only the segments whose conditions reach back that far
-- (RuleIndex.affectedSegments). NULL (an order not found, a customer change,
-- time maintenance) means any time.
ALTER TABLE customer_change_outbox ADD COLUMN newest_order_at timestamptz;

CREATE OR REPLACE FUNCTION segments_capture_order_changes() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO customer_change_outbox (customer_id, store_ids, newest_order_at)
    SELECT customer_id, array_agg(DISTINCT store_id), max(created_at) FROM new_orders GROUP BY customer_id;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO customer_change_outbox (customer_id, store_ids, newest_order_at)
    SELECT customer_id, array_agg(DISTINCT store_id), max(created_at) FROM old_orders GROUP BY customer_id;
  ELSE
    -- An update can move an order between stores, customers or times: both sides count.
    INSERT INTO customer_change_outbox (customer_id, store_ids, newest_order_at)
    SELECT customer_id, array_agg(DISTINCT store_id), max(created_at)
      FROM (SELECT customer_id, store_id, created_at FROM old_orders
            UNION ALL SELECT customer_id, store_id, created_at FROM new_orders) o
     GROUP BY customer_id;
  END IF;
  RETURN NULL;
END
$$;
-- CREATE OR REPLACE drops the function's settings: its search_path again (as in 0005).
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION segments_capture_order_changes() SET search_path = %I, pg_temp', current_schema());
END
$$;
REVOKE ALL ON FUNCTION segments_capture_order_changes() FROM PUBLIC;
