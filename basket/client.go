package basket

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Client sends events to basketassist's POST /v1/events for one storefront.
type Client struct {
	// BaseURL is basketassist's web address, e.g. "https://basket.example.com".
	BaseURL string
	// APIKey is the storefront's api_key.
	APIKey string
	// HTTP is the client used; nil means http.DefaultClient.
	HTTP *http.Client
	// RateLimitRetries is how often a request refused with 429 is sent
	// again after the server's Retry-After (at most a minute each); 0
	// means 3, negative never.
	RateLimitRetries int

	wait func(ctx context.Context, d time.Duration) error // tests replace the clock
}

// APIError is a refusal from the server. For a 400, Problems lists every bad
// event by index and field, and nothing of the request was accepted.
type APIError struct {
	Status   int
	Message  string
	Problems []Problem
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("basketassist: %d %s", e.Status, e.Message)
	for _, p := range e.Problems {
		msg += fmt.Sprintf("; event %d %s: %s", p.Index, p.Field, p.Message)
	}
	return msg
}

// Send posts events in one request (at most MaxBatch) and returns how many were
// accepted. Over the storefront's rate limit (429) it waits as long as the
// server's Retry-After says and sends again, RateLimitRetries times. A
// refusal is an *APIError; a network failure is returned as is, and the
// request may be retried safely: event ids make ingest idempotent.
func (c *Client) Send(ctx context.Context, events ...Event) (int, error) {
	if len(events) == 0 {
		return 0, errors.New("basket: no events to send")
	}
	if len(events) > MaxBatch {
		return 0, fmt.Errorf("basket: %d events, at most %d per request: split them", len(events), MaxBatch)
	}
	body, err := json.Marshal(map[string][]Event{"events": events})
	if err != nil {
		return 0, fmt.Errorf("basket: encode events: %w", err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	retries := c.RateLimitRetries
	if retries == 0 {
		retries = 3
	}
	var resp *http.Response
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.BaseURL, "/")+"/v1/events", bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+c.APIKey)
		req.Header.Set("Content-Type", "application/json")
		if resp, err = hc.Do(req); err != nil {
			return 0, err
		}
		after, ok := retryAfter(resp)
		if resp.StatusCode != http.StatusTooManyRequests || !ok || attempt >= retries {
			break
		}
		// Over the storefront's rate limit: nothing was queued; the server
		// says when there is room again.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		if err := c.sleep(ctx, after); err != nil {
			return 0, err
		}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, err
	}
	var out struct {
		Accepted int        `json:"accepted"`
		Error    string     `json:"error"`
		Events   []BadEvent `json:"events"`
	}
	_ = json.Unmarshal(raw, &out)
	if resp.StatusCode != http.StatusAccepted {
		if out.Error == "" {
			out.Error = http.StatusText(resp.StatusCode)
		}
		return 0, &APIError{Status: resp.StatusCode, Message: out.Error, Problems: flatten(out.Events)}
	}
	return out.Accepted, nil
}

// flatten lists every problem of the bad events a 400 named; a server
// from before 2026-12-07 sent one entry per problem, without "problems".
func flatten(events []BadEvent) []Problem {
	var out []Problem
	for _, e := range events {
		if len(e.Problems) == 0 {
			out = append(out, Problem{Index: e.Index, Field: e.Field, Message: e.Message})
		}
		out = append(out, e.Problems...)
	}
	return out
}

// retryAfter reads a Retry-After in seconds, capped at a minute.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After")))
	if err != nil || n < 0 {
		return 0, false
	}
	return min(time.Duration(n)*time.Second, time.Minute), true
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if c.wait != nil {
		return c.wait(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
