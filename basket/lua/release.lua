-- Free a step claimed by this attempt, after a failure that certainly
-- delivered nothing, so that a retry can claim it again. A claim that is
-- another attempt's, or an outcome, is left alone. A claim released after
-- its hand-over also takes back the email the hand-over counted in the
-- recipient's history: it was not delivered, and left there it would hold
-- the retry back under the frequency cap (its own email, within the window).
-- KEYS[1] step claim, KEYS[2] recipient's send history
-- ARGV: 1 attempt id, 2 history member ("" = no recipient known)
-- Reply: 1 when released, 0 when the claim was not this attempt's
local claim = redis.call('GET', KEYS[1])
if claim == 'claimed:' .. ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
if claim == 'handing_over:' .. ARGV[1] then
  redis.call('DEL', KEYS[1])
  if ARGV[2] ~= '' then redis.call('ZREM', KEYS[2], ARGV[2]) end
  return 1
end
return 0
