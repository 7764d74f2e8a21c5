package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/mail"
)

// Ingest limits.
const (
	MaxBodyBytes = 1 << 20 // 1 MiB
	MaxBatch     = 500
)

// EventProblem is one problem with one event of a request.
type EventProblem struct {
	Index   int    `json:"index"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ingest answers POST /v1/events: 202 with the accepted count; 400 listing
// every problem, in which case nothing is enqueued; 401 for a wrong key or
// for events of another storefront; 413 over 1 MiB.
func (s *Server) ingest(w http.ResponseWriter, r *http.Request) {
	storefront, ok := s.storefrontFor(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "missing or unknown API key (Authorization: Bearer <storefront api_key>)")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes: send fewer events per request", MaxBodyBytes))
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "cannot read request body")
		return
	}
	raws, problem := splitBatch(body)
	if problem != "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": problem})
		return
	}
	// The budget is spent before the events are decoded: a storefront over
	// it costs no more than the split.
	if wait, too := s.limits[storefront].admit(s.opts.Now(), len(raws)); too || wait > 0 {
		s.metrics.rateLimited.WithLabelValues(storefront).Inc()
		l := s.limits[storefront].limit
		if too {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf(
				"%d events in one request exceed storefronts[].rate_limit.burst (%d): send smaller batches", len(raws), l.Burst))
			return
		}
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter(wait)))
		writeError(w, http.StatusTooManyRequests, fmt.Sprintf(
			"storefront %s is over its rate limit (%g events/s, burst %d): nothing was queued; retry after %d s",
			storefront, l.EventsPerSecond, l.Burst, retryAfter(wait)))
		return
	}
	events := make([]basket.Event, 0, len(raws))
	var problems []EventProblem
	for i, raw := range raws {
		e, err := s.validator.Decode(raw)
		var invalid basket.Invalid
		if errors.As(err, &invalid) {
			for _, fe := range invalid {
				problems = append(problems, EventProblem{Index: i, Field: fe.Field, Message: fe.Message})
			}
			continue
		}
		if e.Storefront != storefront {
			writeError(w, http.StatusUnauthorized, fmt.Sprintf("event %d is for storefront %q, but the API key is %q's", i, e.Storefront, storefront))
			return
		}
		events = append(events, e)
	}
	if len(problems) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"error":  fmt.Sprintf("%d of %d events are invalid; nothing was accepted", countIndexes(problems), len(raws)),
			"events": problems,
		})
		return
	}
	if err := s.Events.Submit(r.Context(), events); err != nil {
		s.opts.Logger.ErrorContext(r.Context(), "enqueue events", "storefront", storefront, "count", len(events), "error", mail.Describe(err))
		writeError(w, http.StatusServiceUnavailable, "could not queue the events; nothing was accepted, retry later")
		return
	}
	s.metrics.ingested.WithLabelValues(storefront).Add(float64(len(events)))
	writeJSON(w, http.StatusAccepted, map[string]int{"accepted": len(events)})
}

// splitBatch returns the raw events of a body holding one event or
// {"events": [...]}, or a message saying why the body is not usable.
func splitBatch(body []byte) ([]json.RawMessage, string) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, "body must be one JSON event or {\"events\": [...]}: " + err.Error()
	}
	batch, isBatch := top["events"]
	if !isBatch {
		return []json.RawMessage{body}, ""
	}
	if len(top) != 1 {
		return nil, "a batch holds only the key \"events\""
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(batch, &raws); err != nil {
		return nil, "events: must be an array of events"
	}
	switch {
	case len(raws) == 0:
		return nil, "events: is empty"
	case len(raws) > MaxBatch:
		return nil, fmt.Sprintf("events: %d events, at most %d per request", len(raws), MaxBatch)
	}
	for i, raw := range raws {
		if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
			return nil, fmt.Sprintf("events[%d]: must be an object", i)
		}
	}
	return raws, ""
}

func countIndexes(ps []EventProblem) int {
	seen := map[int]bool{}
	for _, p := range ps {
		seen[p.Index] = true
	}
	return len(seen)
}
