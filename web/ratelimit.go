package web

import (
	"math"
	"time"

	"golang.org/x/time/rate"
)

// RateLimit is one storefront's ingest budget (storefronts[].rate_limit):
// a token bucket refilled at EventsPerSecond, holding at most Burst events.
type RateLimit struct {
	EventsPerSecond float64
	Burst           int
}

type limiter struct {
	l     *rate.Limiter
	limit RateLimit
}

func newLimiter(l RateLimit) *limiter {
	return &limiter{l: rate.NewLimiter(rate.Limit(l.EventsPerSecond), l.Burst), limit: l}
}

// admit takes n events from the bucket at now, or says how long until it
// could (too: more than the whole burst, never).
func (l *limiter) admit(now time.Time, n int) (wait time.Duration, too bool) {
	if l == nil {
		return 0, false
	}
	r := l.l.ReserveN(now, n)
	if !r.OK() {
		return 0, true
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, false
}

// retryAfter is a Retry-After value: whole seconds, rounded up, at least 1.
func retryAfter(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
