-- Check at send time that a reminder step is still wanted, and claim it for
-- one attempt. The claim moves claimed:<attempt> -> handing_over:<attempt>
-- (handover.lua) -> an outcome (finish.lua).
-- KEYS[1] state (state.lua), KEYS[2] step claim, KEYS[3] legacy state hash, KEYS[4] legacy customer and contents
-- ARGV: 1 version, 2 claim TTL s, 3 attempt id, 4 hand-over life ms
-- Reply: {'drop', reason}, {'wait', ms left of the hand-over's life} or
--        {'ok', sealed customer, contents JSON, last_activity_ms}
-- Reasons are policy.Reason values (TestScriptReasonsAreKnown). Consent that
-- was not stated passes: policy.Decide rules on it with the rest.
local st = load_state(KEYS[1], KEYS[3], KEYS[4])
if not st then return {'drop', 'gone'} end
local version = tonumber(ARGV[1])
local claim = redis.call('GET', KEYS[2])
if claim and string.sub(claim, 1, 13) == 'handing_over:' then
  -- handover.lua set the claim's TTL afresh, so its age is what the TTL
  -- has lost. An attempt that handed over less than its life ago may be
  -- alive (its lease lost in an outage, not its process) and may yet
  -- release the step, having sent nothing: ask again once it must have
  -- ended, never calling in doubt what nobody will send.
  local left = tonumber(ARGV[4]) - (tonumber(ARGV[2]) * 1000 - redis.call('PTTL', KEYS[2]))
  if left > 0 then return {'wait', left} end
  -- An earlier attempt reached the final dot and never recorded the
  -- reply: the email may have been delivered. Never risk a second one, and
  -- record it so whatever else (a purchase, newer activity) came since.
  redis.call('SET', KEYS[2], 'in_doubt', 'KEEPTTL')
  if st.v == version and st.task then -- a newer version keeps its task
    st.task = false
    save_state(KEYS[1], st, nil, KEYS[3], KEYS[4])
  end
  return {'drop', 'in_doubt'}
end
if st.status == 'purchased' or st.status == 'cleared' then return {'drop', st.status} end
if st.v ~= version then return {'drop', 'superseded'} end
local customer, contents = body(st)
if st.has_email ~= '1' or st.consent == 'n' or customer == '' then return {'drop', 'no_consent'} end
if claim then
  -- claimed:<other> is an attempt that died before the hand-over: nothing
  -- left, so this attempt takes over. Any other value is an outcome.
  if claim == 'sent' or claim == 'would_send' then return {'drop', 'already_sent'} end
  if string.sub(claim, 1, 8) ~= 'claimed:' then return {'drop', 'already_done'} end
end
redis.call('SET', KEYS[2], 'claimed:' .. ARGV[3], 'EX', ARGV[2])
return {'ok', customer, contents, st.at}
