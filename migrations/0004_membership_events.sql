-- Membership changes as facts, and the order outbox that feeds the event path.

-- Every enter and leave, written in the same transaction as the membership
-- change itself. Rows with published_at NULL are the outbox of the Redis
-- serving keys and the membership-events stream: the publisher applies them
-- and stamps them, so a crash between the two only delays publication.
CREATE TABLE segment_membership_events (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  segment_id       integer NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
  customer_id      text NOT NULL,
  change           text NOT NULL CHECK (change IN ('ENTERED', 'LEFT')),
  at               timestamptz NOT NULL DEFAULT now(),
  cause            text NOT NULL CHECK (cause IN ('schedule', 'event', 'manual')),
  segment_version  integer NOT NULL,
  published_at     timestamptz
);
CREATE INDEX segment_membership_events_unpublished_idx ON segment_membership_events (id) WHERE published_at IS NULL;
CREATE INDEX segment_membership_events_membership_idx ON segment_membership_events (segment_id, customer_id, id);

-- Orders written by any writer reach the event path through this outbox, so
-- none is missed while the workers are down. The relay moves rows into the
-- order-events queue and deletes them.
CREATE TABLE order_outbox (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  order_id     text NOT NULL,
  customer_id  text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);

-- Statement-level with a transition table: one INSERT of a thousand orders
-- is one outbox INSERT, not a thousand trigger calls. NOTIFY wakes the relay.
CREATE FUNCTION segments_order_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO order_outbox (order_id, customer_id) SELECT id, customer_id FROM inserted_orders;
  PERFORM pg_notify('segments_order_outbox', '');
  RETURN NULL;
END
$$;

-- Installed only where `orders` is a table of this database that this role
-- owns; a deployment reading another team's orders (a view, or their table)
-- feeds order-events itself, or switches the trigger off with
-- ORDER_OUTBOX_TRIGGER=false.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_class WHERE oid = to_regclass('orders') AND relkind IN ('r', 'p')
               AND pg_has_role(relowner, 'MEMBER')) THEN
    CREATE TRIGGER segments_order_outbox AFTER INSERT ON orders
      REFERENCING NEW TABLE AS inserted_orders
      FOR EACH STATEMENT EXECUTE FUNCTION segments_order_outbox();
  END IF;
END
$$;
