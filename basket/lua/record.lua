-- Append one decision to a basket's record, keep the last ARGV[2], and let
-- the record expire with the basket. A basket that is gone gets no record.
-- KEYS[1] state, KEYS[2] decision record, KEYS[3] legacy state hash (state.lua)
-- ARGV: 1 decision JSON, 2 entries kept
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then ttl = redis.call('PTTL', KEYS[3]) end
if ttl == -2 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1
