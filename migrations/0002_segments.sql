-- Segment definitions and the durable membership store (the source of truth;
-- Redis holds a copy derived from segment_memberships).

CREATE TABLE segments (
  -- A small integer: it is the field name in every customer's Redis hash, so
  -- it must stay short (see README "Redis layout").
  id                integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name              text NOT NULL CHECK (length(btrim(name)) > 0),
  description       text,
  status            text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'ARCHIVED')),
  size              integer NOT NULL DEFAULT 0 CHECK (size >= 0),
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  last_computed_at  timestamptz
);

-- Names are unique among segments still in service, case-insensitively.
CREATE UNIQUE INDEX segments_live_name_key ON segments (lower(name)) WHERE status <> 'ARCHIVED';

CREATE TABLE segment_memberships (
  segment_id   integer NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
  customer_id  text NOT NULL,
  since        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (segment_id, customer_id)
);

-- "All segments of customer C", for rebuilding one customer's serving key.
CREATE INDEX segment_memberships_customer_id_idx ON segment_memberships (customer_id);
