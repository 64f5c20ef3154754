-- Appends membership events to the stream, one XADD each, as a pipeline of
-- XADDs would, at a fraction of the client's cost per event.
-- KEYS[1]: the stream; ARGV[1]: its length to keep; then 7 values per event,
-- as MembershipEventStream.append pushes them: event id, segment id, customer
-- id, change, at, cause, segment version.
for i = 2, #ARGV, 7 do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'eventId', ARGV[i], 'segmentId', ARGV[i + 1], 'customerId', ARGV[i + 2],
    'change', ARGV[i + 3], 'at', ARGV[i + 4], 'cause', ARGV[i + 5], 'segmentVersion', ARGV[i + 6])
end
return (#ARGV - 1) / 7
