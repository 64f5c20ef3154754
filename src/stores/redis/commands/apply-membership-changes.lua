-- Applies membership changes to customers' serving hashes, in order.
-- KEYS: customer keys; ARGV: a (segment id, entered at) pair per key, the time
-- empty for a leave: HSET on an enter, HDEL on a leave. One call per thousand
-- changes costs the client a tenth of a pipeline of HSETs and HDELs, and holds
-- Redis for a few milliseconds at most. Like read-memberships, all its keys
-- must be in one Redis.
for i = 1, #KEYS do
  local at = ARGV[2 * i]
  if at == '' then redis.call('HDEL', KEYS[i], ARGV[2 * i - 1]) else redis.call('HSET', KEYS[i], ARGV[2 * i - 1], at) end
end
return #KEYS
