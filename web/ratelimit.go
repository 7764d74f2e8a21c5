package web

import (
	"context"
	"math"
	"time"

	"github.com/redis/go-redis/v9"
)

// RateLimit is one storefront's ingest budget (storefronts[].rate_limit):
// a token bucket refilled at EventsPerSecond, holding at most Burst events.
type RateLimit struct {
	EventsPerSecond float64
	Burst           int
}

// takeTokens takes ARGV[4] events from the bucket KEYS[1] at ARGV[1] (unix
// ms), refilled at ARGV[2] events/s up to ARGV[3]; it returns 0 when they
// were taken, else how many ms until they could be. A refused request takes
// nothing. The key expires once the bucket would be full again, which is
// the same as no key.
var takeTokens = redis.NewScript(`
local now, rate, burst, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(b[1]), tonumber(b[2])
if tokens == nil or at == nil then
  tokens, at = burst, now
end
if now > at then
  tokens = math.min(burst, tokens + (now - at) * rate / 1000)
  at = now
end
if tokens < n then
  return math.max(1, math.ceil((n - tokens) * 1000 / rate))
end
tokens = tokens - n
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1000)
return 0
`)

// limiter is one storefront's bucket, kept in Redis (<redis.prefix>rate:{<storefront>})
// so that every process serving /v1/events spends the same budget: three
// web processes behind a load balancer admit rate_limit, not three times it.
type limiter struct {
	rdb   redis.UniversalClient
	key   string
	limit RateLimit
}

func newLimiter(rdb redis.UniversalClient, prefix, storefront string, l RateLimit) *limiter {
	return &limiter{rdb: rdb, key: prefix + "rate:{" + storefront + "}", limit: l}
}

// admit takes n events from the bucket at now, or says how long until it
// could (too: more than the whole burst, never). An error is Redis's.
func (l *limiter) admit(ctx context.Context, now time.Time, n int) (wait time.Duration, too bool, err error) {
	if l == nil {
		return 0, false, nil
	}
	if n > l.limit.Burst {
		return 0, true, nil
	}
	ms, err := takeTokens.Run(ctx, l.rdb, []string{l.key}, now.UnixMilli(), l.limit.EventsPerSecond, l.limit.Burst, n).Int64()
	if err != nil {
		return 0, false, err
	}
	return time.Duration(ms) * time.Millisecond, false, nil
}

// retryAfter is a Retry-After value: whole seconds, rounded up, at least 1.
func retryAfter(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
