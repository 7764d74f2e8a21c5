// Package web serves basketassist's HTTP routes: the storefront ingest API,
// the customer unsubscribe and redirect pages, the admin suppression API,
// health, readiness and metrics.
package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/bounce"
	"github.com/basketassist/basketassist/secrets"
	"github.com/basketassist/basketassist/suppression"
	"github.com/basketassist/basketassist/templates"
	"github.com/basketassist/basketassist/worker"
)

// EventSink accepts validated events of one storefront, all or none.
type EventSink interface {
	Submit(ctx context.Context, events []basket.Event) error
}

// Subjects serves data-subject requests (worker.Subjects).
type Subjects interface {
	Forget(ctx context.Context, r secrets.Recipient) (worker.ForgetReport, error)
	Export(ctx context.Context, r secrets.Recipient) (worker.SubjectExport, error)
}

// Explainer explains one basket's reminders (worker.Explainer).
type Explainer interface {
	Explain(ctx context.Context, storefront, basketID string) (basket.Explanation, error)
}

// Options configures the Server. Zero values: no storefronts, admin API
// disabled (no token), logs discarded, no /metrics content.
type Options struct {
	Storefronts map[string]basket.Storefront
	// APIKeys maps each storefront id to its ingest API key.
	APIKeys map[string]string
	// AdminToken guards the admin API; "" disables it.
	AdminToken string
	Logger     *slog.Logger
	// Registry receives the web counters and is served on /metrics; nil: a fresh one.
	Registry *prometheus.Registry
	Now      func() time.Time
	// Monitoring is the asynqmon UI, mounted at /monitoring/ behind the admin
	// token (as a Bearer token, or as the basic-auth password so that a
	// browser can open it); nil: not mounted.
	Monitoring http.Handler
	// OutboxDir is dev mode's email folder, listed at /outbox; "" means no /outbox.
	OutboxDir string
	// OutboxOpen serves /outbox without the admin token (demo mode only).
	OutboxOpen bool
	// SNS verifies POST /v1/feedback/ses (Amazon SES through SNS); nil:
	// the route is off (bounces.ses.topic_arns empty).
	SNS *bounce.SNS
	// SendGridKey verifies POST /v1/feedback/sendgrid; nil: the route is
	// off (bounces.sendgrid.verification_key empty).
	SendGridKey *ecdsa.PublicKey
	// FeedbackMaxBytes bounds a webhook body (bounces.max_message_bytes).
	FeedbackMaxBytes int64
}

// Deps are the parts the Server uses.
type Deps struct {
	Redis        redis.UniversalClient // pinged by /readyz
	Events       EventSink
	Suppressions *suppression.Store
	Tokens       *suppression.Tokens
	Keys         *secrets.Keys
	Renderer     *templates.Renderer
	Subjects     Subjects // nil: the /v1/subjects routes answer 501
	// Baskets explains baskets for GET /v1/baskets/{storefront}/{basket_id};
	// nil: the route answers 501.
	Baskets Explainer
	// Feedback applies what the provider webhooks hear; needed when
	// Options.SNS or Options.SendGridKey is set.
	Feedback *bounce.Applier
}

// Server is the http.Handler of every route.
type Server struct {
	Deps
	opts      Options
	mux       *http.ServeMux
	validator basket.Validator
	apiKeys   map[[32]byte]string // sha256(key) → storefront id
	metrics   *metrics
}

// New returns a Server.
func New(d Deps, o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	s := &Server{Deps: d, opts: o, mux: http.NewServeMux(), apiKeys: map[[32]byte]string{}, metrics: newMetrics(o.Registry)}
	s.validator = basket.Validator{Now: o.Now, Storefronts: func(id string) bool { _, ok := o.Storefronts[id]; return ok }}
	for id, key := range o.APIKeys {
		s.apiKeys[sha256.Sum256([]byte(key))] = id
	}

	s.mux.HandleFunc("POST /v1/events", s.ingest)
	s.mux.HandleFunc("GET /u/{token}", s.unsubscribePage)
	s.mux.HandleFunc("POST /u/{token}", s.unsubscribe)
	s.mux.HandleFunc("GET /r/{token}", s.redirect)
	s.mux.HandleFunc("GET /p/{token}", s.preferencesPage)
	s.mux.HandleFunc("POST /p/{token}", s.preferences)
	s.mux.Handle("POST /v1/suppressions", s.admin(s.addSuppression))
	s.mux.Handle("DELETE /v1/suppressions", s.admin(s.removeSuppression))
	s.mux.Handle("POST /v1/suppressions/check", s.admin(s.checkSuppression))
	s.mux.Handle("GET /v1/suppressions", s.admin(s.listSuppressions))
	s.mux.Handle("POST /v1/subjects/forget", s.admin(s.subjectRequest))
	s.mux.Handle("POST /v1/subjects/export", s.admin(s.subjectRequest))
	s.mux.Handle("GET /v1/baskets/{storefront}/{basket_id}", s.admin(s.explainBasket))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.ready)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{}))
	if o.OutboxDir != "" {
		guard := s.operator
		if o.OutboxOpen {
			guard = func(h http.Handler) http.Handler { return h }
		}
		s.mux.Handle("GET /outbox", guard(http.HandlerFunc(s.outboxList)))
		s.mux.Handle("GET /outbox/{name}", guard(http.HandlerFunc(s.outboxEmail)))
		s.mux.Handle("GET /outbox/{name}/html", guard(http.HandlerFunc(s.outboxHTML)))
	}
	if o.FeedbackMaxBytes <= 0 {
		s.opts.FeedbackMaxBytes = 1 << 20
	}
	if o.SNS != nil {
		s.mux.HandleFunc("POST /v1/feedback/ses", s.sesFeedback)
	}
	if o.SendGridKey != nil {
		s.mux.HandleFunc("POST /v1/feedback/sendgrid", s.sendGridFeedback)
	}
	if o.Monitoring != nil {
		s.mux.Handle("/monitoring/", s.operator(o.Monitoring))
		s.mux.Handle("GET /monitoring", http.RedirectHandler("/monitoring/", http.StatusMovedPermanently))
	}
	return s
}

// ServeHTTP logs each request by its route pattern: paths carry tokens, and
// tokens are not for logs.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	s.mux.ServeHTTP(rec, r)
	route := r.Pattern
	if route == "" {
		route = "unmatched"
	}
	s.opts.Logger.LogAttrs(r.Context(), slog.LevelDebug, "http", slog.String("route", route),
		slog.Int("status", rec.status), slog.Duration("took", time.Since(start)))
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.Redis.Ping(ctx).Err(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "redis unreachable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// storefrontFor returns the storefront whose API key the request carries.
func (s *Server) storefrontFor(r *http.Request) (string, bool) {
	key, ok := bearer(r)
	if !ok {
		return "", false
	}
	// A map lookup on the key's hash: timing reveals nothing about the key itself.
	id, ok := s.apiKeys[sha256.Sum256([]byte(key))]
	return id, ok
}

func (s *Server) admin(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.AdminToken == "" {
			writeError(w, http.StatusForbidden, "admin API disabled: set web.admin_token")
			return
		}
		tok, ok := bearer(r)
		if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(s.opts.AdminToken)) != 1 {
			writeError(w, http.StatusUnauthorized, "missing or wrong admin token (Authorization: Bearer <web.admin_token>)")
			return
		}
		next(w, r)
	})
}

// operator guards a browser UI for ops: the admin token as a Bearer token or
// as the basic-auth password (any user name). A failed attempt asks the
// browser for credentials.
func (s *Server) operator(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.AdminToken == "" {
			writeError(w, http.StatusForbidden, "disabled: set web.admin_token")
			return
		}
		tok, ok := bearer(r)
		if !ok {
			_, tok, ok = r.BasicAuth()
		}
		if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(s.opts.AdminToken)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="basketassist operators", charset="UTF-8"`)
			writeError(w, http.StatusUnauthorized, "admin token required (any user name, the admin token as password)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const p = "Bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return "", false
	}
	return strings.TrimSpace(h[len(p):]), true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

type metrics struct {
	unsubscribes *prometheus.CounterVec
	resubscribes *prometheus.CounterVec
	clicks       *prometheus.CounterVec
	ingested     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		unsubscribes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "basketassist_unsubscribes_total", Help: "Suppressions added through unsubscribe links and the admin API, by scope and origin.",
		}, []string{"scope", "origin"}),
		resubscribes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "basketassist_resubscribes_total", Help: "Suppressions removed by recipients on the preferences page, by scope.",
		}, []string{"scope"}),
		clicks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "basketassist_basket_link_clicks_total", Help: "Clicks on the return-to-basket link, by storefront and step.",
		}, []string{"storefront", "step"}),
		ingested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "basketassist_ingested_events_total", Help: "Events accepted by POST /v1/events, by storefront.",
		}, []string{"storefront"}),
	}
	reg.MustRegister(m.unsubscribes, m.resubscribes, m.clicks, m.ingested)
	return m
}
