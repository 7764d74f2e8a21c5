-- Lease the reminders that are due, so that one dispatcher hands each to
-- the queue: their score moves to the lease's end, and if the dispatcher
-- dies before it is done they fall due again then (a second hand-over is
-- harmless: the task id is unique in asynq and the step claim says what
-- was sent).
-- KEYS[1] due index; ARGV: 1 now (unix ms), 2 most to take, 3 lease end (unix ms)
-- Reply: {task id, due ms, task id, due ms, ...}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[2])
for i = 1, #due, 2 do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[3], due[i])
end
return due
