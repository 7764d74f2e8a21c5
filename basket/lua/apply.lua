-- Apply one sealed event to a basket's state, atomically.
-- The reminder the new state wants joins the due index, and the one it no
-- longer wants leaves it, in the same step.
-- A repeat of one of the last applied events is a duplicate (state.lua
-- keeps their ids); a repeat of an older one is stale, as its occurred_at
-- is before the latest activity. Markers of event ids written by earlier
-- versions (KEYS[2]) still count until they expire (retention.events).
-- KEYS[1] state (state.lua), KEYS[2] legacy event-id marker, KEYS[3] decision record, KEYS[4] due index,
-- KEYS[5] legacy state hash, KEYS[6] legacy customer and contents
-- ARGV: 1 type, 2 occurred_at (unix ms), 3 sealed customer ("" = absent),
--       4 has_email "1"/"0", 5 consent "1" given / "n" refused / "0" not stated, 6 contents JSON ("" = absent),
--       7 state TTL s, 8 event id, 9 number of steps, 10 task id stem,
--       11.. each step's delay after the last activity (ms)
-- Reply: {outcome, version, last_activity_ms, status, sent, old_task, task,
--         old_waiting (1: the old task was still in the due index)}
local stem = ARGV[10]
local st = load_state(KEYS[1], KEYS[5], KEYS[6])
if st and (seen_id(st, ARGV[8]) or redis.call('EXISTS', KEYS[2]) == 1) then
  return {'duplicate', st.v, st.at, st.status, st.sent, '', task_id(st, stem), 0}
end
if not st then
  st = {v = 0, at = 0, status = '', sent = 0, task = false, has_email = '0', consent = '0', customer = '', contents = '',
    ids = {}}
end
if st.status == 'purchased' then
  return {'ignored', st.v, st.at, st.status, st.sent, '', '', 0}
end
local typ = ARGV[1]
local occurred = tonumber(ARGV[2])
-- A purchase always wins, even when it arrives after newer basket activity.
if typ ~= 'order.completed' and occurred < st.at then
  return {'ignored', st.v, st.at, st.status, st.sent, '', '', 0}
end

local old = task_id(st, stem)
st.v = st.v + 1
if occurred > st.at then st.at = occurred end
if typ == 'order.completed' then st.status = 'purchased'
elseif typ == 'basket.cleared' then st.status = 'cleared'
elseif typ == 'checkout.started' then st.status = 'checkout'
else st.status = 'active' end
if ARGV[3] ~= '' then
  st.customer, st.has_email, st.consent = ARGV[3], ARGV[4], ARGV[5]
end
if ARGV[6] ~= '' then st.contents = ARGV[6] end
remember_id(st, ARGV[8])

-- Consent "0" (not stated) is scheduled too: policy.consent decides at send
-- time, and the decision record can then say why nothing was sent.
st.task = (st.status == 'active' or st.status == 'checkout') and st.has_email == '1' and st.consent ~= 'n' and
  st.sent < tonumber(ARGV[9])
local want = task_id(st, stem)
save_state(KEYS[1], st, ARGV[7], KEYS[5], KEYS[6])
redis.call('EXPIRE', KEYS[3], ARGV[7]) -- the record lives as long as its basket
local waiting = 0
if old ~= '' then waiting = redis.call('ZREM', KEYS[4], old) end
if want ~= '' then redis.call('ZADD', KEYS[4], st.at + tonumber(ARGV[10 + st.sent + 1]), want) end
return {'applied', st.v, st.at, st.status, st.sent, old, want, waiting}
