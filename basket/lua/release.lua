-- Free a step claimed by this attempt, after a failure that certainly
-- delivered nothing, so that a retry can claim it again. A claim that is
-- another attempt's, or an outcome, is left alone.
-- KEYS[1] step claim
-- ARGV: 1 attempt id
-- Reply: 1 when released, 0 when the claim was not this attempt's
local claim = redis.call('GET', KEYS[1])
if claim == 'claimed:' .. ARGV[1] or claim == 'handing_over:' .. ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
