-- The order-history contract that segments are computed from.
--
-- A deployment may point these names at another team's data instead (a replica's
-- tables, or views over them): create `customers` and `orders` with these columns
-- before the first start and this migration leaves them alone, indexes included
-- (the owner of the data then owns its indexes; see README "Order history").
DO $$
BEGIN
  IF to_regclass('customers') IS NULL THEN
    CREATE TABLE customers (
      id          text PRIMARY KEY,
      created_at  timestamptz NOT NULL DEFAULT now(),
      country     text,
      city        text,
      attributes  jsonb NOT NULL DEFAULT '{}'::jsonb
    );
  END IF;

  IF to_regclass('orders') IS NULL THEN
    -- No foreign key to customers: replicated order rows may arrive before the
    -- customer row, and a segment must not fail to compute because of it.
    CREATE TABLE orders (
      id           text PRIMARY KEY,
      customer_id  text NOT NULL,
      store_id     text NOT NULL,
      total_cents  bigint NOT NULL CHECK (total_cents >= 0),
      created_at   timestamptz NOT NULL DEFAULT now()
    );
    -- Per-customer history, newest last: the event path (one customer's
    -- aggregates) and recency rules ("latest order older than N days") read
    -- only this index.
    CREATE INDEX orders_customer_id_created_at_idx
      ON orders (customer_id, created_at) INCLUDE (store_id, total_cents);
    -- Per-store history: set-based rules filtered by store set and window
    -- ("never ordered from", "ordered >= 3 times in 30 days") scan only the
    -- stores named.
    CREATE INDEX orders_store_id_created_at_idx
      ON orders (store_id, created_at) INCLUDE (customer_id, total_cents);
  END IF;
END
$$;
