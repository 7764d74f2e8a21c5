-- Apply one sealed event to a basket's state, atomically.
-- The reminder the new state wants joins the due index, and the one it no
-- longer wants leaves it, in the same step.
-- The sealed customer and the contents live apart from the state hash, in
-- one string (KEYS[5], read by data.lua's read_data): beside them no value
-- exceeds Redis's small-hash limit, so the state hash stays a compact
-- listpack. State written before the split (both in the hash) is read and
-- moved on the next event.
-- KEYS[1] state hash, KEYS[2] event-id marker, KEYS[3] decision record, KEYS[4] due index,
-- KEYS[5] customer and contents
-- ARGV: 1 type, 2 occurred_at (unix ms), 3 sealed customer ("" = absent),
--       4 has_email "1"/"0", 5 consent "1" given / "n" refused / "0" not stated, 6 contents JSON ("" = absent),
--       7 state TTL s, 8 event TTL s, 9 number of steps, 10 task id stem,
--       11.. each step's delay after the last activity (ms)
-- Reply: {outcome, version, last_activity_ms, status, sent, old_task, task,
--         old_waiting (1: the old task was still in the due index)}
local s = redis.call('HMGET', KEYS[1], 'v', 'at', 'status', 'sent', 'task', 'has_email', 'consent')
local v = tonumber(s[1]) or 0
local at = tonumber(s[2]) or 0
local status = s[3] or ''
local sent = tonumber(s[4]) or 0
local task = s[5] or ''

if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[8]) then
  return {'duplicate', v, at, status, sent, '', task, 0}
end
if status == 'purchased' then
  return {'ignored', v, at, status, sent, '', '', 0}
end
local typ = ARGV[1]
local occurred = tonumber(ARGV[2])
-- A purchase always wins, even when it arrives after newer basket activity.
if typ ~= 'order.completed' and occurred < at then
  return {'ignored', v, at, status, sent, '', '', 0}
end

v = v + 1
if occurred > at then at = occurred end
if typ == 'order.completed' then status = 'purchased'
elseif typ == 'basket.cleared' then status = 'cleared'
elseif typ == 'checkout.started' then status = 'checkout'
else status = 'active' end

local has_email = s[6] or '0'
local consent = s[7] or '0'
local fields = {'v', v, 'at', at, 'status', status}
if ARGV[3] ~= '' then
  has_email = ARGV[4]
  consent = ARGV[5]
  table.insert(fields, 'has_email'); table.insert(fields, has_email)
  table.insert(fields, 'consent'); table.insert(fields, consent)
end
if ARGV[3] ~= '' or ARGV[6] ~= '' then
  local customer, contents = ARGV[3], ARGV[6]
  if customer == '' or contents == '' then
    local old_customer, old_contents = read_data(KEYS[5], KEYS[1])
    if customer == '' then customer = old_customer end
    if contents == '' then contents = old_contents end
  end
  redis.call('SET', KEYS[5], #customer .. ':' .. customer .. contents, 'EX', ARGV[7])
  redis.call('HDEL', KEYS[1], 'customer', 'contents')
else
  redis.call('EXPIRE', KEYS[5], ARGV[7])
end

local want = ''
-- Consent "0" (not stated) is scheduled too: policy.consent decides at send
-- time, and the decision record can then say why nothing was sent.
if (status == 'active' or status == 'checkout') and has_email == '1' and consent ~= 'n' and sent < tonumber(ARGV[9]) then
  want = ARGV[10] .. ':s' .. (sent + 1) .. ':v' .. v
end
table.insert(fields, 'task'); table.insert(fields, want)
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('EXPIRE', KEYS[3], ARGV[7]) -- the record lives as long as its basket
local old, waiting = '', 0
if task ~= want then
  old = task
  if old ~= '' then waiting = redis.call('ZREM', KEYS[4], old) end
  if want ~= '' then redis.call('ZADD', KEYS[4], at + tonumber(ARGV[10 + sent + 1]), want) end
end
return {'applied', v, at, status, sent, old, want, waiting}
