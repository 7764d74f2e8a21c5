-- Record how a claimed step ended and name the next step's task.
-- The next step joins the due index, and a task made obsolete leaves it.
-- KEYS[1] state hash, KEYS[2] step claim, KEYS[3] due index
-- ARGV: 1 outcome, 2 claimed version, 3 step, 4 number of steps, 5 task id stem,
--       6.. each step's delay after the last activity (ms)
-- Reply: {next_task, version, next_step, last_activity_ms, old_task,
--         old_waiting (1: the old task was still in the due index)}
-- 'sent' is the truth once the server accepted, so it replaces anything
-- (even an in_doubt written by an attempt that found this one's hand-over);
-- no other outcome ever replaces 'sent'. 'would_send' (policy.dry_run)
-- moves the sequence on as 'sent' does, so a dry run previews every step.
if ARGV[1] ~= 'sent' and redis.call('GET', KEYS[2]) == 'sent' then
  return {'', 0, 0, 0, '', 0}
end
redis.call('SET', KEYS[2], ARGV[1], 'KEEPTTL')
local s = redis.call('HMGET', KEYS[1], 'v', 'status', 'has_email', 'consent', 'sent', 'task', 'at')
if not s[1] then return {'', 0, 0, 0, '', 0} end
local v = tonumber(s[1])
local sent = tonumber(s[5]) or 0
local task = s[6] or ''
local step = tonumber(ARGV[3])
if ARGV[1] ~= 'sent' and ARGV[1] ~= 'would_send' then
  -- The sequence stops here, unless newer activity already wants another task.
  if s[1] == ARGV[2] then redis.call('HSET', KEYS[1], 'task', '') end
  return {'', v, 0, tonumber(s[7]), '', 0}
end
if step > sent then sent = step end
local want = ''
if (s[2] == 'active' or s[2] == 'checkout') and s[3] == '1' and s[4] ~= 'n' and sent < tonumber(ARGV[4]) then
  want = ARGV[5] .. ':s' .. (sent + 1) .. ':v' .. v
end
redis.call('HSET', KEYS[1], 'sent', sent, 'task', want)
-- The old task is named for deletion unless it is the task being finished.
local own = ARGV[5] .. ':s' .. step .. ':v' .. ARGV[2]
local old, waiting = '', 0
if task ~= want and task ~= own then
  old = task
  if old ~= '' then waiting = redis.call('ZREM', KEYS[3], old) end
end
if want ~= '' and want ~= task then
  redis.call('ZADD', KEYS[3], tonumber(s[7]) + tonumber(ARGV[5 + sent + 1]), want)
end
return {want, v, sent + 1, tonumber(s[7]), old, waiting}
