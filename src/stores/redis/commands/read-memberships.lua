-- Reads a page of customers' memberships with the marks that say how to read them.
-- KEYS: the build mark, the freshness watermark, the segments being replaced,
-- then one hash per customer. Returns the two strings (nil when missing), the
-- set's members, then each hash as a flat [field, value, ...] array. It reads
-- only, and all its keys are in one Redis: a Redis Cluster would need the keys
-- of a read in one hash slot. Being one script, it sees a segment's replacement
-- mark and its customers' hashes at the same moment.
local out = { redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]), redis.call('SMEMBERS', KEYS[3]) }
for i = 4, #KEYS do out[i] = redis.call('HGETALL', KEYS[i]) end
return out
