package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/secrets"

	bamail "github.com/basketassist/basketassist/mail"
	"github.com/basketassist/basketassist/suppression"
)

// suppressionRequest is the JSON body of the admin suppression routes.
type suppressionRequest struct {
	Email      string   `json:"email"`
	Emails     []string `json:"emails"` // check only: a batch instead of one
	Scope      string   `json:"scope"`
	Storefront string   `json:"storefront"`
	Reason     string   `json:"reason"`
}

// MaxCheckBatch is how many addresses one check request may carry.
const MaxCheckBatch = 1000

// parse validates the request. Reason is only required when adding.
func (s *Server) parseSuppression(w http.ResponseWriter, r *http.Request, needReason bool) (suppressionRequest, suppression.Scope, suppression.Reason, bool) {
	var req suppressionRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		p := basket.DescribeJSON(err, "body")
		writeError(w, http.StatusBadRequest, "body must be JSON {email, scope, storefront, reason}: "+p.Field+": "+p.Message)
		return req, "", "", false
	}
	if req.Emails != nil {
		switch {
		case r.URL.Path != "/v1/suppressions/check":
			writeError(w, http.StatusBadRequest, "emails: a batch is only accepted by /v1/suppressions/check")
			return req, "", "", false
		case req.Email != "":
			writeError(w, http.StatusBadRequest, "give email or emails, not both")
			return req, "", "", false
		case len(req.Emails) == 0 || len(req.Emails) > MaxCheckBatch:
			writeError(w, http.StatusBadRequest, fmt.Sprintf("emails: give 1-%d addresses, got %d", MaxCheckBatch, len(req.Emails)))
			return req, "", "", false
		}
	} else if !bareAddress(req.Email) {
		writeError(w, http.StatusBadRequest, "email: is required and must be a bare address")
		return req, "", "", false
	}
	if req.Scope == "" {
		req.Scope = string(suppression.BasketAssistance)
	}
	scope, err := suppression.ParseScope(req.Scope)
	if err != nil {
		writeError(w, http.StatusBadRequest, "scope: "+err.Error())
		return req, "", "", false
	}
	if _, ok := s.opts.Storefronts[req.Storefront]; req.Storefront != "" && !ok {
		writeError(w, http.StatusBadRequest, "storefront: unknown storefront "+req.Storefront+" (omit it for a global entry)")
		return req, "", "", false
	}
	var reason suppression.Reason
	if needReason {
		if req.Reason == "" {
			req.Reason = string(suppression.Manual)
		}
		if reason, err = suppression.ParseReason(req.Reason); err != nil {
			writeError(w, http.StatusBadRequest, "reason: "+err.Error())
			return req, "", "", false
		}
	}
	return req, scope, reason, true
}

func (s *Server) addSuppression(w http.ResponseWriter, r *http.Request) {
	req, scope, reason, ok := s.parseSuppression(w, r, true)
	if !ok {
		return
	}
	added, err := s.Suppressions.Add(r.Context(), suppression.Entry{Recipient: s.Keys.Recipient(req.Email),
		Scope: scope, Storefront: req.Storefront, Reason: reason, Origin: suppression.Operator})
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "could not store the suppression; retry")
		return
	}
	status := http.StatusOK
	if added {
		status = http.StatusCreated
		s.metrics.unsubscribes.WithLabelValues(string(scope), string(suppression.Operator)).Inc()
	}
	writeJSON(w, status, map[string]any{"added": added, "scope": scope, "storefront": req.Storefront})
}

func (s *Server) removeSuppression(w http.ResponseWriter, r *http.Request) {
	req, scope, _, ok := s.parseSuppression(w, r, false)
	if !ok {
		return
	}
	removed, err := s.Suppressions.Remove(r.Context(), s.Keys.Recipient(req.Email), req.Storefront, scope, suppression.Operator)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "could not remove the suppression; retry")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"removed": removed, "scope": scope, "storefront": req.Storefront})
}

func bareAddress(email string) bool { return secrets.CheckTypedAddress(email) == nil }

// checkSuppression tells another sender (a newsletter system, say) whether
// an address is suppressed for a scope, here or globally. With "emails" it
// checks up to MaxCheckBatch addresses in one pipelined Redis round trip and
// answers in the same order, so a list can be filtered in one call.
func (s *Server) checkSuppression(w http.ResponseWriter, r *http.Request) {
	req, scope, _, ok := s.parseSuppression(w, r, false)
	if !ok {
		return
	}
	if req.Emails != nil {
		s.checkBatch(w, r, req, scope)
		return
	}
	blocked, e, err := s.Suppressions.Check(r.Context(), s.Keys.Recipient(req.Email), req.Storefront, scope)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "could not check; retry")
		return
	}
	resp := map[string]any{"suppressed": blocked, "scope": scope, "storefront": req.Storefront}
	if blocked {
		resp["by"] = map[string]any{"scope": e.Scope, "storefront": e.Storefront, "reason": e.Reason, "origin": e.Origin, "created_at": e.CreatedAt}
	}
	writeJSON(w, http.StatusOK, resp)
}

type checkResult struct {
	Index      int    `json:"index"`
	Email      string `json:"email"`
	Suppressed bool   `json:"suppressed"`
	Error      string `json:"error,omitempty"`
}

func (s *Server) checkBatch(w http.ResponseWriter, r *http.Request, req suppressionRequest, scope suppression.Scope) {
	results := make([]checkResult, len(req.Emails))
	var valid []string
	var at []int
	for i, e := range req.Emails {
		results[i] = checkResult{Index: i, Email: e}
		if !bareAddress(e) {
			results[i].Error = "not a bare address"
			continue
		}
		valid = append(valid, e)
		at = append(at, i)
	}
	blocked, err := s.Suppressions.CheckAddresses(r.Context(), s.Keys, valid, req.Storefront, scope)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "could not check; retry")
		return
	}
	for j, b := range blocked {
		results[at[j]].Suppressed = b
	}
	writeJSON(w, http.StatusOK, map[string]any{"scope": scope, "storefront": req.Storefront, "results": results})
}

type listedEntry struct {
	Recipient  string    `json:"recipient"` // hmac-sha256 of the normalised address
	Scope      string    `json:"scope"`
	Storefront string    `json:"storefront"`
	Reason     string    `json:"reason"`
	Origin     string    `json:"origin"`
	CreatedAt  time.Time `json:"created_at"`
}

// listSuppressions answers GET /v1/suppressions?scope=&storefront=&cursor=:
// a page of entries as hashes (addresses are not kept), with the cursor of
// the next page ("" at the end). storefront "*" selects global entries.
func (s *Server) listSuppressions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := suppression.Filter{Storefront: q.Get("storefront")}
	if v := q.Get("scope"); v != "" {
		scope, err := suppression.ParseScope(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "scope: "+err.Error())
			return
		}
		f.Scope = scope
	}
	var cursor uint64
	if v := q.Get("cursor"); v != "" {
		c, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "cursor: must be the next_cursor of the previous page")
			return
		}
		cursor = c
	}
	entries, next, err := s.Suppressions.List(r.Context(), cursor, 500, f)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "could not list; retry")
		return
	}
	out := make([]listedEntry, len(entries))
	for i, e := range entries {
		out[i] = listedEntry{Recipient: e.Recipient.String(), Scope: string(e.Scope), Storefront: e.Storefront,
			Reason: string(e.Reason), Origin: string(e.Origin), CreatedAt: e.CreatedAt}
	}
	nextCursor := ""
	if next != 0 {
		nextCursor = strconv.FormatUint(next, 10)
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": out, "next_cursor": nextCursor})
}

// subjectRequest answers POST /v1/subjects/forget and /v1/subjects/export
// with {"email": "…"}.
func (s *Server) subjectRequest(w http.ResponseWriter, r *http.Request) {
	if s.Subjects == nil {
		writeError(w, http.StatusNotImplemented, "data-subject requests are not wired in this process")
		return
	}
	var req struct {
		Email string `json:"email"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || !bareAddress(req.Email) {
		writeError(w, http.StatusBadRequest, `body must be {"email": "<a bare address>"}`)
		return
	}
	rcpt := s.Keys.Recipient(req.Email)
	var out any
	var err error
	if strings.HasSuffix(r.URL.Path, "/forget") {
		out, err = s.Subjects.Forget(r.Context(), rcpt)
	} else {
		out, err = s.Subjects.Export(r.Context(), rcpt)
	}
	if err != nil {
		s.opts.Logger.ErrorContext(r.Context(), "subject request", "route", r.URL.Path, "recipient", rcpt.String(), "error", bamail.Describe(err))
		writeError(w, http.StatusServiceUnavailable, "could not complete the request; retry (it is safe to repeat)")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// explainBasket serves GET /v1/baskets/{storefront}/{basket_id}: the
// basket's state, its pending reminder and its decision record.
func (s *Server) explainBasket(w http.ResponseWriter, r *http.Request) {
	if s.Baskets == nil {
		writeError(w, http.StatusNotImplemented, "basket explanations are not served by this process")
		return
	}
	sf, id := r.PathValue("storefront"), r.PathValue("basket_id")
	if _, ok := s.opts.Storefronts[sf]; !ok {
		writeError(w, http.StatusNotFound, "storefront: no storefront "+strconv.Quote(sf)+" is configured")
		return
	}
	ex, err := s.Baskets.Explain(r.Context(), sf, id)
	switch {
	case errors.Is(err, basket.ErrNoBasket):
		writeError(w, http.StatusNotFound, "basket_id: no such basket (never seen, expired or forgotten)")
	case err != nil:
		s.opts.Logger.ErrorContext(r.Context(), "explain basket", "error", bamail.Describe(err))
		writeError(w, http.StatusServiceUnavailable, "could not read the basket; retry")
	default:
		writeJSON(w, http.StatusOK, ex)
	}
}
