package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func (b *webBundle) do(t *testing.T, h http.Handler, method, path, token string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// The public door serves only what the internet needs; the ops door the rest.
func TestTwoDoors(t *testing.T) {
	t.Parallel()
	b := setupWeb(t)
	pub, ops := b.server.Public(), b.server.Ops()
	for _, path := range []string{"/metrics", "/readyz", "/v1/suppressions", "/v1/baskets/pink/b_1"} {
		assert.Equal(t, http.StatusNotFound, b.do(t, pub, http.MethodGet, path, adminKey).Code, "public door: %s", path)
		assert.NotEqual(t, http.StatusNotFound, b.do(t, ops, http.MethodGet, path, adminKey).Code, "ops door: %s", path)
	}
	assert.Equal(t, http.StatusNotFound, b.do(t, pub, http.MethodPost, "/v1/subjects/export", adminKey).Code)
	assert.Equal(t, http.StatusOK, b.do(t, pub, http.MethodGet, "/healthz", "").Code)
	assert.Equal(t, http.StatusUnauthorized, b.do(t, pub, http.MethodPost, "/v1/events", "").Code, "ingest is public")
	assert.Equal(t, http.StatusNotFound, b.do(t, ops, http.MethodPost, "/v1/events", pinkKey).Code, "and only public")
}

// Each token does what its roles say, and logs name it; admin_token does everything.
func TestTokenRoles(t *testing.T) {
	t.Parallel()
	b := setupWeb(t, func(o *Options) {
		o.Tokens = []Token{{Name: "newsletter", Value: "newsletter-token-0123456789", Roles: []Role{RoleSuppressionsCheck}},
			{Name: "prometheus", Value: "prometheus-token-0123456789", Roles: []Role{RoleMetrics}}}
	})
	h := b.server
	check := "newsletter-token-0123456789"
	rec := b.do(t, h, http.MethodPost, "/v1/subjects/export", check)
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.Contains(t, rec.Body.String(), `token \"newsletter\" lacks the role subjects`)
	assert.Equal(t, http.StatusForbidden, b.do(t, h, http.MethodGet, "/metrics", check).Code)
	assert.Equal(t, http.StatusBadRequest, b.do(t, h, http.MethodPost, "/v1/suppressions/check", check).Code, "allowed: the empty body is refused, not the token")
	assert.Equal(t, http.StatusOK, b.do(t, h, http.MethodGet, "/metrics", "prometheus-token-0123456789").Code)
	assert.Equal(t, http.StatusForbidden, b.do(t, h, http.MethodPost, "/v1/suppressions/check", "prometheus-token-0123456789").Code)
	assert.Equal(t, http.StatusUnauthorized, b.do(t, h, http.MethodGet, "/metrics", "wrong-token-0123456789").Code)
	assert.Equal(t, http.StatusOK, b.do(t, h, http.MethodGet, "/metrics", adminKey).Code)
}

// A browser's cross-site request to an ops route is refused, whatever
// credentials it carries; ops pages cannot be framed.
func TestOpsRefuseCrossSiteRequests(t *testing.T) {
	t.Parallel()
	b := setupWeb(t)
	for _, h := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Sec-Fetch-Site", "same-site"},
		{"Origin", "https://evil.example"}, {"Origin", "null"}} {
		rec := b.do(t, b.server, http.MethodPost, "/v1/suppressions", adminKey, h...)
		assert.Equal(t, http.StatusForbidden, rec.Code, "%v", h)
		assert.Contains(t, rec.Body.String(), "cross-site request refused")
	}
	rec := b.do(t, b.server, http.MethodPost, "/v1/suppressions", adminKey, "Sec-Fetch-Site", "same-origin")
	assert.Equal(t, http.StatusBadRequest, rec.Code, "same origin passes the guard (and the empty body is refused)")
	assert.Equal(t, "frame-ancestors 'none'", rec.Header().Get("Content-Security-Policy"))
	assert.Equal(t, http.StatusOK, b.do(t, b.server, http.MethodGet, "/metrics", adminKey, "Sec-Fetch-Site", "cross-site").Code,
		"reading is not changing")
}

// A storefront over its budget gets 429 with Retry-After, and nothing is
// queued; another storefront is unaffected.
func TestIngestRateLimit(t *testing.T) {
	t.Parallel()
	now := time.Now()
	b := setupWeb(t, func(o *Options) {
		o.Now = func() time.Time { return now } // a frozen clock: the bucket does not refill
		o.RateLimits = map[string]RateLimit{"pink": {EventsPerSecond: 10, Burst: 100}}
	})
	for i := range 100 {
		resp, body := b.post(t, "/v1/events", pinkKey, "application/json", jsonBody(event(i, "pink")))
		require.Equal(t, http.StatusAccepted, resp.StatusCode, "request %d: %s", i+1, body)
	}
	resp, body := b.post(t, "/v1/events", pinkKey, "application/json", jsonBody(event(100, "pink")))
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "the 101st")
	assert.Equal(t, "1", resp.Header.Get("Retry-After"), "one event refills in 0.1 s: retry after 1 s")
	assert.Contains(t, body, "over its rate limit (10 events/s, burst 100): nothing was queued")
	assert.Equal(t, 100, b.queued(t), "the refused request queued nothing")

	resp, _ = b.post(t, "/v1/events", blueKey, "application/json", jsonBody(event(101, "blue")))
	assert.Equal(t, http.StatusAccepted, resp.StatusCode, "blue has its own budget (none here)")

	many := make([]any, 101)
	for i := range many {
		many[i] = event(200+i, "pink")
	}
	resp, body = b.post(t, "/v1/events", pinkKey, "application/json", jsonBody(map[string]any{"events": many}))
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, body)
	assert.Contains(t, body, "exceed storefronts[].rate_limit.burst (100)")
	rec := b.do(t, b.server, http.MethodGet, "/metrics", adminKey)
	assert.Contains(t, rec.Body.String(), `basketassist_ingest_rate_limited_total{storefront="pink"} `+strconv.Itoa(2))
}

// Every process serving /v1/events spends one budget per storefront: two
// servers on one Redis admit the burst once between them, not once each.
func TestIngestRateLimitIsSharedByEveryProcess(t *testing.T) {
	t.Parallel()
	now := time.Now()
	b := setupWeb(t, func(o *Options) {
		o.Now = func() time.Time { return now }
		o.RateLimits = map[string]RateLimit{"pink": {EventsPerSecond: 10, Burst: 100}}
	})
	other := *b // another process: its own server, the same Redis
	o := b.server.opts
	o.Registry = nil // a process of its own has its own metrics
	other.server = New(b.server.Deps, o)
	other.srv = httptest.NewServer(other.server)
	t.Cleanup(other.srv.Close)
	other.client = other.srv.Client()
	batch := func(first, n int) []byte {
		events := make([]any, n)
		for i := range events {
			events[i] = event(first+i, "pink")
		}
		return jsonBody(map[string]any{"events": events})
	}

	resp, body := b.post(t, "/v1/events", pinkKey, "application/json", batch(0, 60))
	require.Equal(t, http.StatusAccepted, resp.StatusCode, body)
	resp, body = other.post(t, "/v1/events", pinkKey, "application/json", batch(60, 60))
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "40 of the 100 are left: %s", body)
	assert.Equal(t, "2", resp.Header.Get("Retry-After"), "20 more events refill in 2 s")
	resp, body = other.post(t, "/v1/events", pinkKey, "application/json", batch(60, 40))
	require.Equal(t, http.StatusAccepted, resp.StatusCode, body)

	now = now.Add(time.Second) // 10 events refilled
	resp, body = b.post(t, "/v1/events", pinkKey, "application/json", batch(100, 10))
	require.Equal(t, http.StatusAccepted, resp.StatusCode, body)
	resp, _ = other.post(t, "/v1/events", pinkKey, "application/json", batch(110, 1))
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, 3, b.queued(t), "the refused requests queued nothing")

	keys, err := b.rdb.Keys(context.Background(), "ba:rate:*").Result()
	require.NoError(t, err)
	assert.Equal(t, []string{"ba:rate:{pink}"}, keys, "one bucket, under the storefront's hash tag")
}
