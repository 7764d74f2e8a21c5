-- Check at send time that a reminder step is still wanted, and claim it for
-- one attempt. The claim moves claimed:<attempt> -> handing_over:<attempt>
-- (handover.lua) -> an outcome (finish.lua).
-- KEYS[1] state hash, KEYS[2] step claim, KEYS[3] customer and contents
-- (read by data.lua's read_data)
-- ARGV: 1 version, 2 claim TTL s, 3 attempt id
-- Reply: {'drop', reason} or {'ok', sealed customer, contents JSON, last_activity_ms}
-- Reasons are policy.Reason values (TestScriptReasonsAreKnown). Consent that
-- was not stated passes: policy.Decide rules on it with the rest.
local s = redis.call('HMGET', KEYS[1], 'v', 'status', 'has_email', 'consent', 'at')
if not s[1] then return {'drop', 'gone'} end
local customer, contents = read_data(KEYS[3], KEYS[1])
local claim = redis.call('GET', KEYS[2])
if claim and string.sub(claim, 1, 13) == 'handing_over:' then
  -- An earlier attempt reached the final dot and never recorded the
  -- reply: the email may have been delivered. Never risk a second one, and
  -- record it so whatever else (a purchase, newer activity) came since.
  redis.call('SET', KEYS[2], 'in_doubt', 'KEEPTTL')
  if s[1] == ARGV[1] then redis.call('HSET', KEYS[1], 'task', '') end -- a newer version keeps its task
  return {'drop', 'in_doubt'}
end
if s[2] == 'purchased' or s[2] == 'cleared' then return {'drop', s[2]} end
if s[1] ~= ARGV[1] then return {'drop', 'superseded'} end
if s[3] ~= '1' or s[4] == 'n' or customer == '' then return {'drop', 'no_consent'} end
if claim then
  -- claimed:<other> is an attempt that died before the hand-over: nothing
  -- left, so this attempt takes over. Any other value is an outcome.
  if claim == 'sent' or claim == 'would_send' then return {'drop', 'already_sent'} end
  if string.sub(claim, 1, 8) ~= 'claimed:' then return {'drop', 'already_done'} end
end
redis.call('SET', KEYS[2], 'claimed:' .. ARGV[3], 'EX', ARGV[2])
return {'ok', customer, contents, s[5]}
