-- Erase one basket: state and step claims. Event-id markers hold no personal
-- data and expire on their own.
-- KEYS[1] state hash, KEYS[2..] step claims
-- Reply: the reminder task the state wanted ("" for none), to be cancelled.
local task = redis.call('HGET', KEYS[1], 'task') or ''
redis.call('DEL', unpack(KEYS))
return task
