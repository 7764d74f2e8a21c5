-- Check at send time that a reminder step is still wanted, and claim it.
-- KEYS[1] state hash, KEYS[2] step claim
-- ARGV: 1 version, 2 claim TTL s
-- Reply: {'drop', reason} or {'ok', sealed customer, contents JSON, last_activity_ms}
local s = redis.call('HMGET', KEYS[1], 'v', 'status', 'has_email', 'consent', 'customer', 'contents', 'at')
if not s[1] then return {'drop', 'gone'} end
if s[2] == 'purchased' or s[2] == 'cleared' then return {'drop', s[2]} end
if s[1] ~= ARGV[1] then return {'drop', 'superseded'} end
if s[3] ~= '1' or s[4] ~= '1' or not s[5] then return {'drop', 'no_consent'} end
local claim = redis.call('GET', KEYS[2])
if claim == 'sending' then return {'drop', 'in_doubt'} end
if claim then return {'drop', 'already_' .. claim} end
redis.call('SET', KEYS[2], 'sending', 'EX', ARGV[2])
return {'ok', s[5], s[6] or '', s[7]}
