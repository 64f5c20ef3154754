-- Segment definitions: RULE segments carry a versioned rule, STATIC segments
-- have members set explicitly. Every change is recorded with its author.

ALTER TABLE segments
  ADD COLUMN kind text NOT NULL DEFAULT 'STATIC' CHECK (kind IN ('RULE', 'STATIC')),
  -- The normalized rule, in the shape of the GraphQL SegmentRule type.
  ADD COLUMN rule jsonb,
  -- Bumped by every rule change; recomputes carry it so that a result
  -- computed from an older rule never overwrites a newer one.
  ADD COLUMN version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  ADD COLUMN refresh_every_minutes integer CHECK (refresh_every_minutes BETWEEN 1 AND 10080),
  ADD CONSTRAINT segments_rule_matches_kind CHECK ((kind = 'RULE') = (rule IS NOT NULL)),
  ADD CONSTRAINT segments_refresh_matches_kind CHECK ((kind = 'RULE') = (refresh_every_minutes IS NOT NULL));

-- Every rule a segment has had; the current one is also in segments.rule.
CREATE TABLE segment_versions (
  segment_id  integer NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
  version     integer NOT NULL,
  rule        jsonb,
  created_at  timestamptz NOT NULL DEFAULT now(),
  created_by  text NOT NULL,
  PRIMARY KEY (segment_id, version)
);

-- Which segments a rule reads through inSegment: for cycle checks, for
-- recomputing dependencies first, and for refusing to archive a segment in use.
CREATE TABLE segment_dependencies (
  segment_id  integer NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
  depends_on  integer NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
  PRIMARY KEY (segment_id, depends_on)
);
CREATE INDEX segment_dependencies_depends_on_idx ON segment_dependencies (depends_on);

CREATE TABLE segment_history (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  segment_id       integer NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
  version          integer NOT NULL,
  action           text NOT NULL CHECK (action IN
                     ('CREATED', 'UPDATED', 'ARCHIVED', 'RECOMPUTE_REQUESTED', 'MEMBERS_ADDED', 'MEMBERS_REMOVED')),
  actor            text NOT NULL,
  at               timestamptz NOT NULL DEFAULT now(),
  changed_fields   text[] NOT NULL DEFAULT '{}',
  customer_count   integer
);
CREATE INDEX segment_history_segment_id_idx ON segment_history (segment_id, id DESC);
