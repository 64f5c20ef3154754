-- Applies membership changes to customers' serving hashes, whatever order
-- they arrive in: each change carries the id of its membership event, and a
-- change older than what the field last took is ignored. Changes of one
-- membership get increasing ids in commit order (docs/pipeline.md
-- "Publication"), so the newest always wins: two publishers, a retried batch
-- or a pipeline landing late cannot leave an older state behind.
-- KEYS: customer keys; ARGV: a (segment id, entered at, event id) triple per
-- key, the time empty for a leave.
-- A member's field `<segment id>` holds `<entered at ms>:<event id>`; a leave
-- removes it and keeps `-<segment id>` = `<event id>`, so that an older
-- ENTERED arriving later still loses. A value without an event id (written by
-- a rebuild, or before versions) counts as event 0. One call per thousand
-- changes holds Redis for a few milliseconds at most. All keys of a call are
-- in one slot (one shard) on a Redis Cluster.
for i = 1, #KEYS do
  local segment, at, event = ARGV[3 * i - 2], ARGV[3 * i - 1], tonumber(ARGV[3 * i])
  local current = redis.call('HGET', KEYS[i], segment)
  local seen = tonumber(redis.call('HGET', KEYS[i], '-' .. segment) or '0') or 0
  if current then
    local version = tonumber(string.match(current, ':(%d+)$') or '0') or 0
    if version > seen then seen = version end
  end
  if event > seen then
    if at == '' then
      redis.call('HDEL', KEYS[i], segment)
      redis.call('HSET', KEYS[i], '-' .. segment, ARGV[3 * i])
    else
      redis.call('HSET', KEYS[i], segment, at .. ':' .. ARGV[3 * i])
      redis.call('HDEL', KEYS[i], '-' .. segment)
    end
  end
end
return #KEYS
