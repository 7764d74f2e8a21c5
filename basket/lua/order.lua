-- Record a recipient's order at a storefront, keeping the latest.
-- KEYS[1] the recipient's order hash
-- ARGV: 1 storefront, 2 ordered at (unix ms), 3 TTL s
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > cur then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
