-- Erase one basket: state, decision record, customer and contents, and step claims. Event-id markers hold no personal
-- data and expire on their own.
-- KEYS[1] state hash, KEYS[2] decision record, KEYS[3] customer and contents, KEYS[4..] step claims
-- Reply: the basket's version (0 when it was gone): every reminder task it
-- can have had is named by a step and a version up to this one.
local v = tonumber(redis.call('HGET', KEYS[1], 'v')) or 0
redis.call('DEL', unpack(KEYS))
return v
