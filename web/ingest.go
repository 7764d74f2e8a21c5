package web

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/mail"
)

// MaxBodyBytes bounds a request to POST /v1/events; basket.MaxBatch
// bounds its events.
const MaxBodyBytes = 1 << 20 // 1 MiB

// notQueued answers a request that Redis's absence kept from being queued.
const notQueued = "could not queue the events; nothing was accepted, retry later"

// ingest answers POST /v1/events: 202 with the accepted count; 400 listing
// every bad event with all its problems, in which case nothing is enqueued; 401 for a wrong key or
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
	batch, err := s.validator.DecodeBatch(body, basket.OneOrBatch)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// Every event of the request spends budget, valid or not: a storefront
	// sending garbage fast is as much load as one sending baskets.
	wait, too, err := s.limits[storefront].admit(r.Context(), s.opts.Now(), batch.Count)
	if err != nil {
		s.opts.Logger.ErrorContext(r.Context(), "read the ingest rate limit", "storefront", storefront, "error", mail.Describe(err))
		writeError(w, http.StatusServiceUnavailable, notQueued)
		return
	}
	if too || wait > 0 {
		s.metrics.rateLimited.WithLabelValues(storefront).Inc()
		l := s.limits[storefront].limit
		if too {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf(
				"%d events in one request exceed storefronts[].rate_limit.burst (%d): send smaller batches", batch.Count, l.Burst))
			return
		}
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter(wait)))
		writeError(w, http.StatusTooManyRequests, fmt.Sprintf(
			"storefront %s is over its rate limit (%g events/s, burst %d): nothing was queued; retry after %d s",
			storefront, l.EventsPerSecond, l.Burst, retryAfter(wait)))
		return
	}
	for i, e := range batch.Events {
		if e.Storefront != storefront {
			writeError(w, http.StatusUnauthorized, fmt.Sprintf("event %d is for storefront %q, but the API key is %q's", batch.Index(i), e.Storefront, storefront))
			return
		}
	}
	if bad := batch.BadEvents(); len(bad) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"error":  fmt.Sprintf("%d of %d events are invalid; nothing was accepted", len(bad), batch.Count),
			"events": bad,
		})
		return
	}
	events := batch.Events
	if err := s.Events.Submit(r.Context(), events); err != nil {
		s.opts.Logger.ErrorContext(r.Context(), "enqueue events", "storefront", storefront, "count", len(events), "error", mail.Describe(err))
		writeError(w, http.StatusServiceUnavailable, notQueued)
		return
	}
	s.metrics.ingested.WithLabelValues(storefront).Add(float64(len(events)))
	writeJSON(w, http.StatusAccepted, map[string]int{"accepted": len(events)})
}
