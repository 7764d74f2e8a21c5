package basket

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Client sends events to basketassist's POST /v1/events for one storefront.
type Client struct {
	// BaseURL is basketassist's web address, e.g. "https://basket.example.com".
	BaseURL string
	// APIKey is the storefront's api_key.
	APIKey string
	// HTTP is the client used; nil means http.DefaultClient.
	HTTP *http.Client
}

// APIError is a refusal from the server. For a 400, Problems lists every bad
// event by index and field, and nothing of the request was accepted.
type APIError struct {
	Status   int
	Message  string
	Problems []Problem
}

// Problem is one bad field of one event in a refused request.
type Problem struct {
	Index   int    `json:"index"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("basketassist: %d %s", e.Status, e.Message)
	for _, p := range e.Problems {
		msg += fmt.Sprintf("; event %d %s: %s", p.Index, p.Field, p.Message)
	}
	return msg
}

// Send posts events in one request (at most 500) and returns how many were
// accepted. A refusal is an *APIError; a network failure is returned as is,
// and the request may be retried safely: event ids make ingest idempotent.
func (c *Client) Send(ctx context.Context, events ...Event) (int, error) {
	if len(events) == 0 {
		return 0, errors.New("basket: no events to send")
	}
	body, err := json.Marshal(map[string][]Event{"events": events})
	if err != nil {
		return 0, fmt.Errorf("basket: encode events: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.BaseURL, "/")+"/v1/events", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.APIKey)
	req.Header.Set("Content-Type", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, err
	}
	var out struct {
		Accepted int       `json:"accepted"`
		Error    string    `json:"error"`
		Events   []Problem `json:"events"`
	}
	_ = json.Unmarshal(raw, &out)
	if resp.StatusCode != http.StatusAccepted {
		if out.Error == "" {
			out.Error = http.StatusText(resp.StatusCode)
		}
		return 0, &APIError{Status: resp.StatusCode, Message: out.Error, Problems: out.Events}
	}
	return out.Accepted, nil
}
