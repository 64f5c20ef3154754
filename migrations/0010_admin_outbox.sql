-- Admin changes that never half-happen (issue 9): every side effect of a
-- segment change is a row written in the change's own transaction, carried
-- out by the workers' relay; retried creates find their segment again; a
-- rollback is a kind of change of its own.

-- 1. The admin outbox. The relay takes rows in id order (FOR UPDATE SKIP
-- LOCKED), carries them out against Redis (announcements, the recompute
-- queue, its schedulers) and deletes them in the same transaction: a Redis
-- failure leaves them for the next poll. Every effect is idempotent and reads
-- the segment as it is when carried out, never as it was when recorded.
CREATE TABLE segment_outbox (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  segment_id   integer,
  -- Only for 'erase-serving-key' (eraseCustomer): the customer whose Redis
  -- serving key goes. The row lives until the relay carried it out.
  customer_id  text,
  effect       text NOT NULL CHECK (effect IN ('announce-definition', 'announce-size', 'sync-schedule', 'recompute', 'erase-serving-key')),
  recorded_at  timestamptz NOT NULL DEFAULT now(),
  CHECK ((effect = 'erase-serving-key') = (customer_id IS NOT NULL AND segment_id IS NULL)),
  CHECK (effect = 'erase-serving-key' OR segment_id IS NOT NULL)
);

-- 2. createSegment's idempotency keys, per caller: a retry with the same key
-- answers the segment the first call made.
CREATE TABLE segment_create_requests (
  actor            text NOT NULL,
  idempotency_key  text NOT NULL,
  -- The request's canonical input: the same key with another input is a conflict.
  request_hash     text NOT NULL,
  segment_id       integer REFERENCES segments (id) ON DELETE CASCADE,
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (actor, idempotency_key)
);

-- 3. Rollbacks and imports in a segment's history.
ALTER TABLE segment_history DROP CONSTRAINT segment_history_action_check;
ALTER TABLE segment_history
  ADD CONSTRAINT segment_history_action_check CHECK (action IN
    ('CREATED', 'UPDATED', 'ARCHIVED', 'RECOMPUTE_REQUESTED', 'MEMBERS_ADDED', 'MEMBERS_REMOVED', 'MEMBERS_IMPORTED', 'ROLLED_BACK'));
-- For ROLLED_BACK: the version whose rule was restored.
ALTER TABLE segment_history ADD COLUMN restored_version integer;

-- 4. Erasures (eraseCustomer): what was removed, for whom as a keyed hash, by whom.
CREATE TABLE customer_erasures (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer_hash  text NOT NULL,
  actor          text NOT NULL,
  erased_at      timestamptz NOT NULL DEFAULT now(),
  memberships    integer NOT NULL,
  events         integer NOT NULL,
  pending_changes integer NOT NULL
);
CREATE INDEX customer_erasures_customer_hash_idx ON customer_erasures (customer_hash);
