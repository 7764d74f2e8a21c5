package web

import (
	"encoding/json"
	"net/http"
	"net/mail"

	"github.com/basketassist/basketassist/suppression"
)

// suppressionRequest is the JSON body of the admin suppression routes.
type suppressionRequest struct {
	Email      string `json:"email"`
	Scope      string `json:"scope"`
	Storefront string `json:"storefront"`
	Reason     string `json:"reason"`
}

// parse validates the request. Reason is only required when adding.
func (s *Server) parseSuppression(w http.ResponseWriter, r *http.Request, needReason bool) (suppressionRequest, suppression.Scope, suppression.Reason, bool) {
	var req suppressionRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "body must be JSON {email, scope, storefront, reason}: "+err.Error())
		return req, "", "", false
	}
	if a, err := mail.ParseAddress(req.Email); err != nil || a.Address != req.Email {
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

// checkSuppression tells another sender (a newsletter system, say) whether
// an address is suppressed for a scope, here or globally.
func (s *Server) checkSuppression(w http.ResponseWriter, r *http.Request) {
	req, scope, _, ok := s.parseSuppression(w, r, false)
	if !ok {
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
