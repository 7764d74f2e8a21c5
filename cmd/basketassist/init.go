package main

// Start-up, one constructor per component, in the order Run calls them
// (the shape of listmonk's cmd/init.go): each takes what it needs and
// returns what it built, so Run reads as the list of what a process holds.

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynq/x/metrics"
	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	gomail "github.com/wneessen/go-mail"

	"github.com/basketassist/basketassist/bounce"
	"github.com/basketassist/basketassist/config"
	"github.com/basketassist/basketassist/mail"
	"github.com/basketassist/basketassist/suppression"
	"github.com/basketassist/basketassist/templates"
	"github.com/basketassist/basketassist/web"
	"github.com/basketassist/basketassist/worker"
)

// Run starts the selected halves and returns once they are serving.
func (m *Main) Run(ctx context.Context) (err error) {
	if m.Logger == nil {
		m.Logger = slog.New(slog.DiscardHandler)
	}
	if m.core, err = openCore(ctx, m.Config, m.Logger); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = m.Close()
		}
	}()
	renderer, err := loadTemplates(m.Config, m.core.storefronts)
	if err != nil {
		return err
	}
	signer, err := initDKIM(m.Config.DKIM)
	if err != nil {
		return err
	}
	bm := m.initMetrics()
	feedback := m.initFeedback(bm)
	if m.Worker {
		sender, err := m.initSender(signer)
		if err != nil {
			return err
		}
		if err := m.initWorker(ctx, renderer, sender, worker.NewMetrics(m.registry, bm)); err != nil {
			return err
		}
		if err := m.initBounceListener(feedback); err != nil {
			return err
		}
	}
	if m.Web {
		if err := m.initWeb(renderer, feedback); err != nil {
			return err
		}
	}
	m.logStarted()
	return nil
}

func initDKIM(c config.DKIM) (*gomail.DKIMSigner, error) {
	return mail.NewDKIMSigner(mail.DKIMOptions{Domain: c.Domain, Selector: c.Selector, KeyFile: c.KeyFile})
}

// initMetrics builds the registry /metrics serves, with what every process
// reports (Go runtime, process, asynq queues, suppression changes), and
// the bounce metrics the worker and the webhooks share.
func (m *Main) initMetrics() bounce.Metrics {
	reg := prometheus.NewRegistry()
	m.registry = reg
	changes := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "basketassist_suppression_changes_total",
		Help: "Suppression entries added or removed by this process, by change, scope, reason and origin."},
		[]string{"change", "scope", "reason", "origin"})
	waiting := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "basketassist_reminders_waiting",
		Help: "Reminders in the due index: scheduled, not yet due (asynq's queues hold them once due)."}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		n, err := m.core.baskets.Waiting(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	})
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		metrics.NewQueueMetricsCollector(asynq.NewInspectorFromRedisClient(m.core.rdb)), changes, waiting)
	m.core.suppressions.OnChange = func(change string, e suppression.Entry) {
		changes.WithLabelValues(change, string(e.Scope), string(e.Reason), string(e.Origin)).Inc()
	}
	return bounce.NewMetrics(reg)
}

// initFeedback builds the one path bounces and complaints take, from the
// listener and from the provider webhooks alike.
func (m *Main) initFeedback(bm bounce.Metrics) *bounce.Applier {
	return &bounce.Applier{SoftLimit: m.Config.Bounces.SoftLimit, Keys: m.core.keys, Sends: m.core.baskets,
		Suppressions: m.core.suppressions, Logger: m.Logger.With("component", "bounces"), Metrics: bm, Now: m.Now}
}

// initSender picks where emails go: Main.Sender (tests), the outbox
// folder when smtp.host is empty (dev), or SMTP.
func (m *Main) initSender(signer *gomail.DKIMSigner) (worker.Sender, error) {
	cfg := m.Config
	sender := m.Sender
	var err error
	switch {
	case sender != nil:
	case cfg.SMTP.Host == "":
		if sender, err = mail.NewOutboxSender(cfg.Outbox.Dir, signer); err != nil {
			return nil, err
		}
		m.Logger.Warn("smtp.host is empty: writing emails to the outbox folder (dev only)", "dir", cfg.Outbox.Dir)
	default:
		if m.smtpSender, err = mail.NewSMTPSender(mail.SMTPOptions{Host: cfg.SMTP.Host, Port: cfg.SMTP.Port,
			Username: cfg.SMTP.Username, Password: cfg.SMTP.Password, TLS: cfg.SMTP.TLS,
			Connections: cfg.SMTP.Connections, Timeout: cfg.SMTP.Timeout, DKIM: signer}); err != nil {
			return nil, err
		}
		sender = m.smtpSender
	}
	if m.WrapSender != nil {
		sender = m.WrapSender(sender)
	}
	return sender, nil
}

// initWorker starts the asynq server with the event and reminder handlers.
func (m *Main) initWorker(ctx context.Context, renderer *templates.Renderer, sender worker.Sender, wm *worker.Metrics) error {
	cfg := m.Config
	if m.core.embedded == nil && cfg.Redis.WaitReplicas == 0 {
		warnIfRedisForgets(ctx, m.core.rdb, m.Logger)
	}
	h := worker.NewHandlers(worker.Deps{Redis: m.core.rdb, Baskets: m.core.baskets, Suppressions: m.core.suppressions,
		Tokens: m.core.tokens, Keys: m.core.keys, Renderer: renderer, Sender: sender},
		worker.Options{Storefronts: m.core.storefronts, PublicURL: cfg.Web.PublicURL,
			MaxRetry: cfg.Worker.MaxRetry, RetryBase: cfg.Worker.RetryBase, SoftLimit: cfg.Bounces.SoftLimit, HistoryFor: historyFor(m.core.storefronts),
			Replication: m.core.replication(), Prefix: cfg.Redis.Prefix, Now: m.Now, Logger: m.Logger.With("component", "worker"), Metrics: wm})
	m.asynqSrv = worker.NewServer(m.core.rdb, worker.ServerOptions{Concurrency: cfg.Worker.Concurrency,
		PollInterval: cfg.Worker.PollInterval, RetryBase: cfg.Worker.RetryBase,
		ShutdownTimeout: cfg.Worker.ShutdownTimeout, Logger: m.Logger.With("component", "asynq")})
	if err := m.asynqSrv.Start(h.Mux()); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	d := worker.NewDispatcher(m.core.rdb, m.core.baskets, worker.DispatcherOptions{Poll: cfg.Worker.PollInterval,
		MaxRetry: cfg.Worker.MaxRetry, Replication: m.core.replication(), Prefix: cfg.Redis.Prefix,
		Now: m.Now, Logger: m.Logger.With("component", "dispatcher")})
	dctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); d.Run(dctx) }()
	m.stopDispatcher = func() { stop(); <-done }
	m.Logger.Info("worker started", "concurrency", cfg.Worker.Concurrency, "steps", len(cfg.Reminders.Steps))
	return nil
}

// initBounceListener starts the SMTP listener for bounces and ARF
// complaints when bounces.listen is set.
func (m *Main) initBounceListener(feedback *bounce.Applier) (err error) {
	cfg := m.Config
	if cfg.Bounces.Listen == "" {
		return nil
	}
	if m.bounces, err = bounce.Listen(cfg.Bounces.Listen, bounce.Options{Domains: cfg.BounceDomains(),
		MaxBytes: cfg.Bounces.MaxMessageBytes, Applier: feedback}); err != nil {
		return fmt.Errorf("bounces.listen: %w", err)
	}
	m.BounceAddr = m.bounces.Addr()
	m.Logger.Info("bounce listener started", "listen", m.BounceAddr.String(), "domains", cfg.BounceDomains())
	return nil
}

// initWeb builds the HTTP server and serves it on one door or two.
func (m *Main) initWeb(renderer *templates.Renderer, feedback *bounce.Applier) error {
	srv, err := m.newWebServer(renderer, feedback)
	if err != nil {
		return err
	}
	return m.listen(srv)
}

func (m *Main) newWebServer(renderer *templates.Renderer, feedback *bounce.Applier) (*web.Server, error) {
	cfg := m.Config
	apiKeys := map[string]string{}
	limits := map[string]web.RateLimit{}
	for _, s := range cfg.Storefronts {
		apiKeys[s.ID] = s.APIKey
		l := s.Limit()
		limits[s.ID] = web.RateLimit{EventsPerSecond: l.EventsPerSecond, Burst: l.Burst}
	}
	var sns *bounce.SNS
	if len(cfg.Bounces.SES.TopicARNs) > 0 {
		sns = &bounce.SNS{TopicARNs: cfg.Bounces.SES.TopicARNs, Client: m.HTTPClient}
	}
	var sendGridKey *ecdsa.PublicKey
	if k := cfg.Bounces.SendGrid.VerificationKey; k != "" {
		var err error
		if sendGridKey, err = bounce.ParseSendGridKey(k); err != nil {
			return nil, fmt.Errorf("bounces.sendgrid.verification_key: %w (copy the key from SendGrid's Mail Settings, Signed Event Webhook)", err)
		}
	}
	mon, monRead := m.initMonitoring()
	tokens := make([]web.Token, 0, len(cfg.Web.Tokens))
	for _, t := range cfg.Web.Tokens {
		roles := make([]web.Role, len(t.Roles))
		for i, r := range t.Roles {
			roles[i] = web.Role(r)
		}
		tokens = append(tokens, web.Token{Name: t.Name, Value: t.Token, Roles: roles})
	}
	return web.New(web.Deps{Redis: m.core.rdb, Events: worker.NewProducer(m.core.asynqClient, m.core.keys, m.core.producerOptions()),
		Suppressions: m.core.suppressions, Tokens: m.core.tokens, Keys: m.core.keys, Renderer: renderer,
		Subjects: worker.NewSubjects(m.core.rdb, m.core.baskets, m.core.suppressions, m.Logger.With("component", "subjects")),
		Baskets:  worker.NewExplainer(m.core.rdb, m.core.baskets), Feedback: feedback},
		web.Options{Storefronts: m.core.storefronts, APIKeys: apiKeys, AdminToken: cfg.Web.AdminToken, Tokens: tokens,
			Logger: m.Logger.With("component", "web"), Registry: m.registry, Now: m.Now, Monitoring: mon, MonitoringReadOnly: monRead,
			OutboxDir: outboxDir(cfg), OutboxOpen: m.Demo, RateLimits: limits, RedisPrefix: cfg.Redis.Prefix, MaxEventAge: cfg.Retention.Basket,
			SNS: sns, SendGridKey: sendGridKey, FeedbackMaxBytes: cfg.Bounces.MaxMessageBytes}), nil
}

// initMonitoring mounts asynqmon twice: writable for monitoring:write,
// read-only for monitoring:read.
func (m *Main) initMonitoring() (rw, ro *asynqmon.HTTPHandler) {
	opts := asynqmon.Options{RootPath: "/monitoring", RedisConnOpt: asynqRedis(m.core.cfg.Redis)}
	rw = asynqmon.New(opts)
	opts.ReadOnly = true
	ro = asynqmon.New(opts)
	m.monitoring = []*asynqmon.HTTPHandler{rw, ro}
	return rw, ro
}

// listen serves srv: everything on web.listen when web.ops_listen is the
// same address, else the public routes there and the ops routes apart.
func (m *Main) listen(srv *web.Server) (err error) {
	cfg := m.Config
	oneDoor := cfg.Web.OpsListen == cfg.Web.Listen && m.OpsListener == nil
	ln := m.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Web.Listen); err != nil {
			return fmt.Errorf("web.listen: %w", err)
		}
	}
	m.WebAddr = ln.Addr()
	if oneDoor {
		m.serveHTTP(ln, srv)
		m.OpsAddr = m.WebAddr
		return nil
	}
	m.serveHTTP(ln, srv.Public())
	ops := m.OpsListener
	if ops == nil {
		if ops, err = net.Listen("tcp", cfg.Web.OpsListen); err != nil {
			return fmt.Errorf("web.ops_listen: %w (set it to another free address, or to web.listen's for one port)", err)
		}
	}
	m.OpsAddr = ops.Addr()
	m.serveHTTP(ops, srv.Ops())
	return nil
}

// logStarted states what is on, in one line: Redis, where mail goes, DKIM
// per storefront, the steps and every listener.
func (m *Main) logStarted() {
	cfg := m.Config
	smtpDesc := "outbox " + cfg.Outbox.Dir
	if cfg.SMTP.Host != "" {
		smtpDesc = fmt.Sprintf("%s:%d tls=%s", cfg.SMTP.Host, cfg.SMTP.Port, cfg.SMTP.TLS)
	}
	m.Logger.Info("basketassist started", "worker", m.Worker, "web", m.Web, "redis", m.core.cfg.Redis.Where(),
		"smtp", smtpDesc, "dkim", dkimSummary(cfg), "steps", len(cfg.Reminders.Steps),
		"web_listen", addrOf(m.WebAddr), "ops_listen", addrOf(m.OpsAddr), "public_url", cfg.Web.PublicURL,
		"bounces_listen", addrOf(m.BounceAddr))
	for _, s := range m.core.storefronts {
		if d := s.FromDomain(); cfg.DKIM.Domain != "" && !dmarcAligned(d, cfg.DKIM.Domain) {
			m.Logger.Warn("dkim.domain does not align with a storefront's From domain: DMARC will not pass on DKIM",
				"storefront", s.ID, "from_domain", d, "dkim_domain", cfg.DKIM.Domain)
		}
	}
}

// dkimSummary names, per storefront, the domain its mail is signed for:
// "pink=shop.example blue=shop.example", or "off".
func dkimSummary(cfg config.Config) string {
	if cfg.DKIM.Domain == "" {
		return "off"
	}
	parts := make([]string, len(cfg.Storefronts))
	for i, s := range cfg.Storefronts {
		parts[i] = s.ID + "=" + cfg.DKIM.Domain + " s=" + cfg.DKIM.Selector
	}
	return strings.Join(parts, " ")
}

// dmarcAligned is relaxed alignment, simplified: one domain is the other
// or a subdomain of it (the organizational domain rule, without the public
// suffix list).
func dmarcAligned(from, signed string) bool {
	signed = strings.ToLower(signed)
	return from == signed || strings.HasSuffix(from, "."+signed) || strings.HasSuffix(signed, "."+from)
}
