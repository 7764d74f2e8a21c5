-- The last word before the final dot of DATA: re-check the basket, the
-- recipient's last order, suppressions and frequency cap and, only if the
-- email is still wanted, mark the step as being handed over and count it
-- in the recipient's history, in one atomic step. Whatever was
-- acknowledged before this script ran is honoured.
-- KEYS[1] state (state.lua), KEYS[2] step claim, KEYS[3] recipient's suppression hash,
-- KEYS[4] the basket's send record (for bounces that arrive later),
-- KEYS[5] recipient's send history, KEYS[6] recipient's orders,
-- KEYS[7] legacy state hash, KEYS[8] legacy customer and contents
-- ARGV: 1 version, 2 attempt id, 3 claim and record TTL s, 4 storefront, 5 basket id,
--       6 recipient hash ("" = no record), 7 cap max (0 = none),
--       8 cap window start (unix ms), 9 now (unix ms), 10 history member,
--       11 history kept from (unix ms), 12 history TTL ms, 13 step,
--       14.. suppression fields that block this email
-- Reply: {'ok'} or {'drop', reason[, blocking field]}; reasons are policy.Reason values.
if redis.call('GET', KEYS[2]) ~= 'claimed:' .. ARGV[2] then
  return {'drop', 'claim_lost'} -- another attempt took the step over
end
local st = load_state(KEYS[1], KEYS[7], KEYS[8])
local reason = nil
if not st then reason = 'gone'
elseif st.status == 'purchased' or st.status == 'cleared' then reason = st.status
elseif st.v ~= tonumber(ARGV[1]) then reason = 'superseded'
elseif st.has_email ~= '1' or st.consent == 'n' then reason = 'no_consent' end
if not reason then
  local ordered = redis.call('HGET', KEYS[6], ARGV[4])
  if ordered and tonumber(ordered) >= st.at then reason = 'ordered' end
end
if not reason and tonumber(ARGV[7]) > 0 then
  local mark = ARGV[4] .. '|'
  local n = 0
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '(' .. ARGV[8], '+inf')) do
    if string.sub(m, 1, #mark) == mark then n = n + 1 end
  end
  if n >= tonumber(ARGV[7]) then reason = 'frequency_cap' end
end
if reason then
  -- Nothing was handed over; the step is free for whatever now owns the basket.
  redis.call('DEL', KEYS[2])
  return {'drop', reason}
end
local fields = {}
for i = 14, #ARGV do fields[#fields + 1] = ARGV[i] end
local sup = redis.call('HMGET', KEYS[3], unpack(fields))
for i = 1, #fields do
  if sup[i] then
    redis.call('SET', KEYS[2], 'suppressed', 'KEEPTTL')
    if st.task then
      st.task = false
      save_state(KEYS[1], st, nil, KEYS[7], KEYS[8])
    end
    return {'drop', 'suppressed', fields[i]}
  end
end
-- A fresh TTL dates the hand-over: claim.lua reads its age from it.
redis.call('SET', KEYS[2], 'handing_over:' .. ARGV[2], 'EX', ARGV[3])
if ARGV[6] ~= '' then
  -- r<step> is this step's recipient: the basket's customer may change
  -- between steps, and a late bounce names its step. r, the latest, is
  -- all that records written until 2026-12 hold.
  redis.call('HSET', KEYS[4], 'sf', ARGV[4], 'b', ARGV[5], 'r', ARGV[6], 'r' .. ARGV[13], ARGV[6])
  redis.call('EXPIRE', KEYS[4], ARGV[3])
  redis.call('ZADD', KEYS[5], ARGV[9], ARGV[10])
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', '(' .. ARGV[11])
  redis.call('PEXPIRE', KEYS[5], ARGV[12])
end
return {'ok'}
