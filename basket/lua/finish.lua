-- Record how a claimed step ended, with its entry in the decision record,
-- and name the next step's task.
-- The next step joins the due index, and a task made obsolete leaves it.
-- KEYS[1] state (state.lua), KEYS[2] step claim, KEYS[3] due index,
-- KEYS[4] legacy state hash, KEYS[5] legacy customer and contents, KEYS[6] decision record
-- ARGV: 1 outcome, 2 claimed version, 3 step, 4 number of steps, 5 task id stem,
--       6 decision record entry ('' for none), 7 record entries kept,
--       8.. each step's delay after the last activity (ms)
-- Reply: {next_task, version, next_step, last_activity_ms, old_task,
--         old_waiting (1: the old task was still in the due index)}
-- 'sent' is the truth once the server accepted, so it replaces anything
-- (even an in_doubt written by an attempt that found this one's hand-over);
-- no other outcome ever replaces 'sent'. 'would_send' (policy.dry_run)
-- moves the sequence on as 'sent' does, so a dry run previews every step.
-- The record entry is best effort, as the record always is: a failure to
-- write it (pcall) never fails the outcome, which is already written.
local function note()
  if ARGV[6] ~= '' then pcall(append_record, KEYS[1], KEYS[4], KEYS[6], ARGV[6], ARGV[7]) end
end
if ARGV[1] ~= 'sent' and redis.call('GET', KEYS[2]) == 'sent' then
  note()
  return {'', 0, 0, 0, '', 0}
end
redis.call('SET', KEYS[2], ARGV[1], 'KEEPTTL')
local st = load_state(KEYS[1], KEYS[4], KEYS[5])
if not st then return {'', 0, 0, 0, '', 0} end
local stem = ARGV[5]
local claimed = tonumber(ARGV[2])
if ARGV[1] ~= 'sent' and ARGV[1] ~= 'would_send' then
  -- The sequence stops here, unless newer activity already wants another task.
  if st.v == claimed and st.task then
    st.task = false
    save_state(KEYS[1], st, nil, KEYS[4], KEYS[5])
  end
  note()
  return {'', st.v, 0, st.at, '', 0}
end
local task = task_id(st, stem)
local step = tonumber(ARGV[3])
if step > st.sent then st.sent = step end
st.task = (st.status == 'active' or st.status == 'checkout') and st.has_email == '1' and st.consent ~= 'n' and
  st.sent < tonumber(ARGV[4])
local want = task_id(st, stem)
save_state(KEYS[1], st, nil, KEYS[4], KEYS[5])
-- The old task is named for deletion unless it is the task being finished.
local own = stem .. ':s' .. step .. ':v' .. claimed
local old, waiting = '', 0
if task ~= want and task ~= own then
  old = task
  if old ~= '' then waiting = redis.call('ZREM', KEYS[3], old) end
end
if want ~= '' and want ~= task then
  redis.call('ZADD', KEYS[3], st.at + tonumber(ARGV[7 + st.sent + 1]), want)
end
note()
return {want, st.v, st.sent + 1, st.at, old, waiting}
