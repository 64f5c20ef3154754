-- Where the serving-store reconciler's walk is, shared by every worker (issue 17).
--
-- Each round compares the next page of customers after `after_customer` and
-- moves it on; a round runs only when the last one (any worker's) is at least
-- a period old. So a deployment compares SERVING_RECONCILE_BATCH customers a
-- period whatever its number of workers, and each customer once a pass, where
-- walks of their own would have multiplied the cost by the workers.
CREATE TABLE serving_reconcile_cursor (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  after_customer text NOT NULL,
  round_at timestamptz NOT NULL
);
INSERT INTO serving_reconcile_cursor (after_customer, round_at) VALUES ('', '-infinity');
