package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
)

// Role is one thing an ops token may do.
type Role string

// Roles of web.tokens[].roles.
const (
	RoleSuppressionsCheck Role = "suppressions:check" // POST /v1/suppressions/check (other senders)
	RoleSuppressionsWrite Role = "suppressions:write" // add, remove and list suppressions
	RoleSubjects          Role = "subjects"           // data-subject export (decrypted) and forget
	RoleBasketsRead       Role = "baskets:read"       // GET /v1/baskets/…: decision records
	RoleMonitoringRead    Role = "monitoring:read"    // asynqmon, read-only; /outbox
	RoleMonitoringWrite   Role = "monitoring:write"   // asynqmon with its buttons (pause, run, delete)
	RoleMetrics           Role = "metrics"            // GET /metrics
)

// Roles lists every role; web.admin_token holds them all.
var Roles = []Role{RoleSuppressionsCheck, RoleSuppressionsWrite, RoleSubjects, RoleBasketsRead,
	RoleMonitoringRead, RoleMonitoringWrite, RoleMetrics}

// Token is one named ops credential. Logs name it by Name, never by value.
type Token struct {
	Name  string
	Value string
	Roles []Role
}

func (t Token) has(r Role) bool { return slices.Contains(t.Roles, r) }

type tokenKey struct{}

// tokenName is the name of the token that authorised r ("" for none).
func tokenName(ctx context.Context) string {
	n, _ := ctx.Value(tokenKey{}).(string)
	return n
}

// lookup finds the token whose value is secret. Every token is compared,
// in constant time, so timing tells nothing about which was close.
func (s *Server) lookup(secret string) (Token, bool) {
	sum := sha256.Sum256([]byte(secret))
	var found Token
	ok := false
	for i, h := range s.tokenHashes {
		if subtle.ConstantTimeCompare(sum[:], h[:]) == 1 {
			found, ok = s.tokens[i], true
		}
	}
	return found, ok
}

// guard lets a request through with a token that holds role: a Bearer
// token, or for browser UIs (browser) the basic-auth password. Ops pages
// may not be framed, and a state-changing request that a browser marks as
// cross-site is refused, so that a page an operator visits cannot drive
// them with the credentials the browser keeps.
func (s *Server) guard(role Role, browser bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "frame-ancestors 'none'")
		w.Header().Set("X-Frame-Options", "DENY")
		if len(s.tokens) == 0 {
			writeError(w, http.StatusForbidden, "disabled: set web.admin_token or web.tokens")
			return
		}
		secret, ok := s.credential(r, browser)
		tok, found := s.lookup(secret)
		if !ok || !found {
			msg := "missing or unknown token (Authorization: Bearer <token>)"
			if browser {
				w.Header().Set("WWW-Authenticate", `Basic realm="basketassist operators", charset="UTF-8"`)
				msg = "missing or unknown token (Authorization: Bearer <token>, or the token as basic-auth password)"
			}
			writeError(w, http.StatusUnauthorized, msg)
			return
		}
		if !tok.has(role) {
			s.opts.Logger.LogAttrs(r.Context(), slog.LevelWarn, "token lacks the role", slog.String("token", tok.Name),
				slog.String("role", string(role)), slog.String("route", r.Pattern))
			writeError(w, http.StatusForbidden, fmt.Sprintf("token %q lacks the role %s", tok.Name, role))
			return
		}
		if changes(r) && (crossSite(r) || r.Header.Get("Origin") == "null") {
			s.opts.Logger.LogAttrs(r.Context(), slog.LevelWarn, "cross-site ops request refused", slog.String("token", tok.Name),
				slog.String("route", r.Pattern))
			writeError(w, http.StatusForbidden, "cross-site request refused: use the ops page itself, or a client without a browser")
			return
		}
		if changes(r) {
			s.opts.Logger.LogAttrs(r.Context(), slog.LevelInfo, "ops request", slog.String("token", tok.Name),
				slog.String("method", r.Method), slog.String("route", r.Pattern))
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok.Name)))
	})
}

// changes reports a request that may change state.
func changes(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// monitoring serves asynqmon: read-only for monitoring:read, with its
// buttons for monitoring:write.
func (s *Server) monitoring(full, readOnly http.Handler) http.Handler {
	write := s.guard(RoleMonitoringWrite, true, full)
	read := s.guard(RoleMonitoringRead, true, readOnly)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if changes(r) {
			write.ServeHTTP(w, r)
			return
		}
		if secret, ok := s.credential(r, true); ok {
			if tok, found := s.lookup(secret); found && tok.has(RoleMonitoringWrite) {
				write.ServeHTTP(w, r)
				return
			}
		}
		read.ServeHTTP(w, r)
	})
}

// credential is the request's token: Bearer, or for browser UIs the
// basic-auth password.
func (s *Server) credential(r *http.Request, browser bool) (string, bool) {
	if secret, ok := bearer(r); ok || !browser {
		return secret, ok
	}
	_, secret, ok := r.BasicAuth()
	return secret, ok
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const p = "Bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return "", false
	}
	return strings.TrimSpace(h[len(p):]), true
}
