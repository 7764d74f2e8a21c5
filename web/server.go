// Package web serves basketassist's HTTP routes: the storefront ingest API,
// the customer unsubscribe and redirect pages, the admin suppression API,
// health, readiness and metrics.
package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/bounce"
	"github.com/basketassist/basketassist/secrets"
	"github.com/basketassist/basketassist/suppression"
	"github.com/basketassist/basketassist/templates"
)

// EventSink accepts validated events of one storefront, all or none.
type EventSink interface {
	Submit(ctx context.Context, events []basket.Event) error
}

// Subjects serves data-subject requests (worker.Subjects).
type Subjects interface {
	Forget(ctx context.Context, r secrets.Recipient) (basket.ForgetReport, error)
	Export(ctx context.Context, r secrets.Recipient) (basket.SubjectExport, error)
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
	// AdminToken holds every role (web.admin_token); "" for none.
	AdminToken string
	// Tokens are the named ops tokens with their roles (web.tokens).
	Tokens []Token
	Logger *slog.Logger
	// Registry receives the web counters and is served on /metrics; nil: a fresh one.
	Registry *prometheus.Registry
	Now      func() time.Time
	// Monitoring is the asynqmon UI, mounted at /monitoring/ for
	// monitoring:write, and MonitoringReadOnly (asynqmon's read-only mode)
	// for monitoring:read; a token as Bearer or as the basic-auth password,
	// so that a browser can open it. nil: not mounted.
	Monitoring, MonitoringReadOnly http.Handler
	// MaxEventAge refuses older events (retention.basket); 0: no limit.
	MaxEventAge time.Duration
	// RateLimits bounds each storefront's ingest (storefronts[].rate_limit);
	// a storefront without one is not limited.
	RateLimits map[string]RateLimit
	// RedisPrefix starts the keys the Server writes itself (redis.prefix):
	// the rate limits' buckets.
	RedisPrefix string
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

// Server serves every route: ServeHTTP all of them (one door), Public the
// ones the internet needs and Ops the rest (two doors).
type Server struct {
	Deps
	opts        Options
	mux         *http.ServeMux // every route
	public      *http.ServeMux // /v1/events, /u/, /p/, /r/, the provider webhooks, /healthz
	ops         *http.ServeMux // /metrics, /readyz, /monitoring/, the admin API, /outbox, /healthz
	validator   basket.Validator
	apiKeys     map[[32]byte]string // sha256(key) → storefront id
	tokens      []Token
	tokenHashes [][32]byte      // sha256 of each token's value, in tokens' order
	handlers    [3]http.Handler // mux, public, ops, each logged
	limits      map[string]*limiter
	metrics     *metrics
}

type door int

const (
	publicDoor door = iota
	opsDoor
)

// handle registers a route on its door and on the one-door mux.
func (s *Server) handle(d door, pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
	if d == publicDoor {
		s.public.Handle(pattern, h)
	} else {
		s.ops.Handle(pattern, h)
	}
}

// Public is the handler for web.listen when web.ops_listen is another address.
func (s *Server) Public() http.Handler { return s.handlers[1] }

// Ops is the handler for web.ops_listen.
func (s *Server) Ops() http.Handler { return s.handlers[2] }

// New returns a Server.
func New(d Deps, o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	s := &Server{Deps: d, opts: o, mux: http.NewServeMux(), public: http.NewServeMux(), ops: http.NewServeMux(),
		apiKeys: map[[32]byte]string{}, metrics: newMetrics(o.Registry), tokens: o.Tokens, limits: map[string]*limiter{}}
	if o.AdminToken != "" {
		s.tokens = append(s.tokens, Token{Name: "admin_token", Value: o.AdminToken, Roles: Roles})
	}
	if s.opts.Now == nil {
		s.opts.Now = time.Now
	}
	s.validator = basket.Validator{Now: o.Now, MaxAge: o.MaxEventAge, Storefronts: func(id string) bool { _, ok := o.Storefronts[id]; return ok }}
	for id, key := range o.APIKeys {
		s.apiKeys[sha256.Sum256([]byte(key))] = id
	}
	for _, t := range s.tokens {
		s.tokenHashes = append(s.tokenHashes, sha256.Sum256([]byte(t.Value)))
	}
	for id, l := range o.RateLimits {
		s.limits[id] = newLimiter(d.Redis, o.RedisPrefix, id, l)
	}
	if o.FeedbackMaxBytes <= 0 {
		s.opts.FeedbackMaxBytes = 1 << 20
	}
	fn := func(f http.HandlerFunc) http.Handler { return f }
	health := fn(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})

	// The internet's door: storefronts, customers, providers.
	s.handle(publicDoor, "POST /v1/events", fn(s.ingest))
	s.handle(publicDoor, "GET /u/{token}", fn(s.unsubscribePage))
	s.handle(publicDoor, "POST /u/{token}", fn(s.unsubscribe))
	s.handle(publicDoor, "GET /r/{token}", fn(s.redirect))
	s.handle(publicDoor, "GET /p/{token}", fn(s.preferencesPage))
	s.handle(publicDoor, "POST /p/{token}", fn(s.preferences))
	if o.SNS != nil {
		s.handle(publicDoor, "POST /v1/feedback/ses", fn(s.sesFeedback))
	}
	if o.SendGridKey != nil {
		s.handle(publicDoor, "POST /v1/feedback/sendgrid", fn(s.sendGridFeedback))
	}
	s.mux.Handle("GET /healthz", health)
	s.public.Handle("GET /healthz", health)
	s.ops.Handle("GET /healthz", health)

	// The ops door: every route behind a token with the route's role.
	api := func(role Role, f http.HandlerFunc) http.Handler { return s.guard(role, false, f) }
	s.handle(opsDoor, "POST /v1/suppressions", api(RoleSuppressionsWrite, s.addSuppression))
	s.handle(opsDoor, "DELETE /v1/suppressions", api(RoleSuppressionsWrite, s.removeSuppression))
	s.handle(opsDoor, "GET /v1/suppressions", api(RoleSuppressionsWrite, s.listSuppressions))
	s.handle(opsDoor, "POST /v1/suppressions/check", api(RoleSuppressionsCheck, s.checkSuppression))
	s.handle(opsDoor, "POST /v1/subjects/forget", api(RoleSubjects, s.subjectRequest))
	s.handle(opsDoor, "POST /v1/subjects/export", api(RoleSubjects, s.subjectRequest))
	s.handle(opsDoor, "GET /v1/baskets/{storefront}/{basket_id}", api(RoleBasketsRead, s.explainBasket))
	s.handle(opsDoor, "GET /readyz", fn(s.ready))
	s.handle(opsDoor, "GET /metrics", s.guard(RoleMetrics, true, promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{})))
	// Go's profiler, for whoever may read metrics: profiles hold code
	// paths and counts, never request data.
	s.handle(opsDoor, "GET /debug/pprof/", s.guard(RoleMetrics, true, http.HandlerFunc(pprof.Index)))
	s.handle(opsDoor, "GET /debug/pprof/profile", s.guard(RoleMetrics, true, http.HandlerFunc(pprof.Profile)))
	if o.OutboxDir != "" {
		guard := func(h http.Handler) http.Handler { return s.guard(RoleMonitoringRead, true, h) }
		if o.OutboxOpen {
			guard = func(h http.Handler) http.Handler { return h }
		}
		s.handle(opsDoor, "GET /outbox", guard(fn(s.outboxList)))
		s.handle(opsDoor, "GET /outbox/{name}", guard(fn(s.outboxEmail)))
		s.handle(opsDoor, "GET /outbox/{name}/html", guard(fn(s.outboxHTML)))
	}
	if o.Monitoring != nil {
		readOnly := o.MonitoringReadOnly
		if readOnly == nil {
			readOnly = o.Monitoring
		}
		s.handle(opsDoor, "/monitoring/", s.monitoring(o.Monitoring, readOnly))
		s.handle(opsDoor, "GET /monitoring", http.RedirectHandler("/monitoring/", http.StatusMovedPermanently))
	}
	s.handlers = [3]http.Handler{s.logged(s.mux), s.logged(s.public), s.logged(s.ops)}
	return s
}

// ServeHTTP serves every route, for web.ops_listen equal to web.listen.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handlers[0].ServeHTTP(w, r) }

// logged logs each request by its route pattern: paths carry tokens, and
// tokens are not for logs. The ops token's name is logged, never its value.
func (s *Server) logged(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		mux.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		s.opts.Logger.LogAttrs(r.Context(), slog.LevelDebug, "http", slog.String("route", route),
			slog.Int("status", rec.status), slog.Duration("took", time.Since(start)))
	})
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
	rateLimited  *prometheus.CounterVec
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
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "basketassist_ingest_rate_limited_total", Help: "Ingest requests refused (429, or 413 over the burst) by the storefront's rate limit, by storefront.",
	}, []string{"storefront"})
	reg.MustRegister(m.unsubscribes, m.resubscribes, m.clicks, m.ingested, m.rateLimited)
	return m
}
