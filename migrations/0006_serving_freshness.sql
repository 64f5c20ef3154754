-- Freshness of served memberships (issue 8): when a segment's rule last
-- changed, so that "every rule change before T is reflected" can be read from
-- a small partial index of the segments still waiting for their computation.

ALTER TABLE segments ADD COLUMN rule_changed_at timestamptz NOT NULL DEFAULT now();

UPDATE segments s SET rule_changed_at = v.created_at
  FROM segment_versions v
 WHERE v.segment_id = s.id AND v.version = s.version;

-- The segments whose current rule is not reflected in their memberships yet.
-- Quarantined segments are left out: a rule that fails at run time must not
-- hold every answer's freshness back (Segment.lastComputeError reports it).
CREATE INDEX segments_compute_pending_idx ON segments (rule_changed_at)
 WHERE kind = 'RULE' AND status = 'ACTIVE' AND quarantined_at IS NULL
   AND (last_computed_at IS NULL OR last_computed_at < rule_changed_at);
