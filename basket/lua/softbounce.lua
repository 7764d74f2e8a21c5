-- Note that a soft bounce of one step's send was counted, in its send
-- record, and say whether it is the first. A record that is gone (expired,
-- or its basket forgotten) gets no note, which would outlive it with no
-- TTL: its bounce is not counted.
-- KEYS[1] the send record; ARGV: 1 the note's field ("soft<step>")
-- Reply: 1 for the first note, 0 otherwise
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HSETNX', KEYS[1], ARGV[1], '1')
