package basket

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Over the rate limit the client waits what Retry-After says, then sends
// again; it gives up after RateLimitRetries.
func TestClientHonoursRetryAfter(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"error":"over its rate limit"}`))
			return
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"accepted":1}`))
	}))
	defer srv.Close()
	var waited []time.Duration
	c := &Client{BaseURL: srv.URL, APIKey: "k", wait: func(_ context.Context, d time.Duration) error {
		waited = append(waited, d)
		return nil
	}}
	e := Event{ID: "e1", Type: Updated, Storefront: "pink", BasketID: "b1", OccurredAt: time.Now()}
	n, err := c.Send(context.Background(), e)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, []time.Duration{2 * time.Second, 2 * time.Second}, waited)

	calls.Store(0)
	c.RateLimitRetries = 1
	_, err = c.Send(context.Background(), e)
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusTooManyRequests, apiErr.Status, "one retry, then the refusal")
}

func TestClientListsEveryProblemOfEveryBadEvent(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"one entry per bad event": `{"error":"2 of 2 events are invalid","events":[
			{"index":0,"field":"basket_id","message":"is required","problems":[
				{"index":0,"field":"basket_id","message":"is required"},
				{"index":0,"field":"occurred_at","message":"must be RFC 3339"}]},
			{"index":1,"field":"type","message":"unknown","problems":[{"index":1,"field":"type","message":"unknown"}]}]}`,
		"one entry per problem (servers before 2026-12-07)": `{"error":"2 of 2 events are invalid","events":[
			{"index":0,"field":"basket_id","message":"is required"},
			{"index":0,"field":"occurred_at","message":"must be RFC 3339"},
			{"index":1,"field":"type","message":"unknown"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(body))
			}))
			defer srv.Close()
			c := &Client{BaseURL: srv.URL, APIKey: "k"}
			_, err := c.Send(context.Background(), Event{ID: "e1"}, Event{ID: "e2"})
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, []Problem{
				{Index: 0, Field: "basket_id", Message: "is required"},
				{Index: 0, Field: "occurred_at", Message: "must be RFC 3339"},
				{Index: 1, Field: "type", Message: "unknown"},
			}, apiErr.Problems)
		})
	}
}
