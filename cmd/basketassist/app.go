package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/bounce"
	"github.com/basketassist/basketassist/config"
	"github.com/basketassist/basketassist/mail"
	"github.com/basketassist/basketassist/replication"
	"github.com/basketassist/basketassist/secrets"
	"github.com/basketassist/basketassist/suppression"
	"github.com/basketassist/basketassist/templates"
	"github.com/basketassist/basketassist/worker"
)

// Main is the running program: what serve, worker and web start. Tests
// build one with a Config (listen on 127.0.0.1:0) and call Run and Close.
type Main struct {
	Config config.Config
	// Worker and Web select the halves to run; serve runs both.
	Worker, Web bool
	Logger      *slog.Logger
	// Sender replaces SMTP when set (tests).
	Sender worker.Sender
	// WrapSender, when set, wraps whichever sender is used (the demo watches sends with it).
	WrapSender func(worker.Sender) worker.Sender
	// Now replaces the clock when set.
	Now func() time.Time
	// Demo opens /outbox without the admin token (the demo command).
	Demo bool
	// Listener replaces web.listen when set (tests bind 127.0.0.1:0 first, to know public_url).
	Listener net.Listener
	// HTTPClient makes the calls out to providers (SNS signing
	// certificates, subscription confirmations); nil: a client with a 10 s
	// timeout. Tests give it a transport that plays SNS.
	HTTPClient *http.Client

	// OpsListener, when set, serves web.ops_listen's routes apart (tests);
	// otherwise web.ops_listen equal to web.listen means one port.
	OpsListener net.Listener

	// Set by Run.
	WebAddr net.Addr
	// OpsAddr serves the ops routes: WebAddr itself with one port.
	OpsAddr net.Addr
	// BounceAddr is where the bounce listener listens, once Run returned
	// (bounces.listen set).
	BounceAddr net.Addr

	core     *core
	bounces  *bounce.Listener
	asynqSrv *worker.Server
	// stopDispatcher stops handing due reminders to the queue (worker).
	stopDispatcher func()
	httpSrvs       []httpServer
	registry       *prometheus.Registry // what /metrics serves
	smtpSender     *mail.SMTPSender
	monitoring     []*asynqmon.HTTPHandler
}

// core is what every command that touches Redis needs.
type core struct {
	cfg          config.Config
	rdb          redis.UniversalClient
	keys         *secrets.Keys
	storefronts  map[string]basket.Storefront
	baskets      *basket.Store
	suppressions *suppression.Store
	tokens       *suppression.Tokens
	asynqClient  *asynq.Client
	embedded     *miniredis.Miniredis // nil with a real Redis
}

// quietRedis drops go-redis's own log lines (a pool's dial retries, four
// to a failed start): basketassist reports Redis trouble itself, once,
// naming redis.addr.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(quietRedis{}) }

// openCore connects to Redis and derives the keys. It fails fast when Redis
// cannot be reached, so a wrong redis.addr is reported at start.
func openCore(ctx context.Context, cfg config.Config, log *slog.Logger) (*core, error) {
	var embedded *miniredis.Miniredis
	if !cfg.Redis.Real() {
		var err error
		if embedded, err = startEmbeddedRedis(); err != nil {
			return nil, err
		}
		cfg.Redis.Addr = embedded.Addr()
		log.Warn("redis.addr is empty: using an embedded in-memory Redis; data is lost on exit (dev only)")
	}
	rdb := newRedisClient(cfg.Redis)
	fail := func(err error) (*core, error) {
		_ = rdb.Close()
		if embedded != nil {
			embedded.Close()
		}
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pingCtx).Err(); err != nil {
		return fail(unreachable(cfg.Redis, err))
	}
	master, err := secrets.ParseKey(cfg.Secrets.Key)
	if err != nil {
		return fail(fmt.Errorf("secrets.key: %w", err))
	}
	keys, err := secrets.New(master)
	if err != nil {
		return fail(err)
	}
	c := &core{cfg: cfg, rdb: rdb, keys: keys, storefronts: map[string]basket.Storefront{}, embedded: embedded}
	for _, s := range storefrontsOf(cfg) {
		c.storefronts[s.ID] = s
	}
	wait := c.replication()
	c.baskets = basket.NewStore(rdb, keys, basket.StoreOptions{Prefix: cfg.Redis.Prefix, Steps: cfg.StepDelays(),
		BasketTTL: cfg.Retention.Basket, ClaimTTL: cfg.Retention.Idempotency, Replication: wait,
		HandOverLife: worker.HandOverLife(cfg.SMTP.Timeout, wait.Timeout)})
	c.suppressions = suppression.NewStore(rdb, cfg.Redis.Prefix, log.With("component", "suppression"))
	c.suppressions.Replication = wait
	c.tokens = suppression.NewTokens(keys)
	c.asynqClient = asynq.NewClientFromRedisClient(rdb)
	return c, nil
}

// unreachable says that Redis r could not be reached, naming the key to
// check and the failure in fixed words (a Redis error by its code: NOAUTH,
// WRONGPASS, LOADING), not the library's text.
func unreachable(r config.Redis, err error) error {
	key := "redis.addr"
	if len(r.Sentinel.Addrs) > 0 {
		key = "redis.sentinel"
	}
	why := mail.Describe(err)
	var re redis.Error
	if errors.As(err, &re) {
		why, _, _ = strings.Cut(re.Error(), " ")
	}
	return fmt.Errorf("%s: cannot reach Redis at %s: %s", key, r.Where(), why)
}

// replication is what redis.wait_replicas asks of the writes a promise
// rests on.
func (c *core) replication() replication.Wait {
	return replication.Wait{Replicas: c.cfg.Redis.WaitReplicas, Timeout: c.cfg.Redis.WaitTimeout}
}

// producerOptions has accepted events confirmed as redis.wait_replicas asks.
func (c *core) producerOptions() worker.ProducerOptions {
	return worker.ProducerOptions{Replication: c.replication(), Redis: c.rdb, Prefix: c.cfg.Redis.Prefix}
}

// newRedisClient connects to r: its address, or the primary its Sentinels
// name, followed through a failover (go-redis closes the old primary's
// connections when Sentinel announces the switch).
//
// RESP2: basketassist uses no RESP3 feature (push notifications,
// client-side caching), and with RESP3 go-redis looks for pending push
// notifications before reading every reply (2.5 % of the service's CPU
// while sending, scripts/bench.sh --only send --cpuprofile).
func newRedisClient(r config.Redis) *redis.Client {
	if sen := r.Sentinel; len(sen.Addrs) > 0 {
		return redis.NewFailoverClient(&redis.FailoverOptions{MasterName: sen.Master, SentinelAddrs: sen.Addrs,
			SentinelPassword: sen.Password, Password: r.Password, DB: r.DB, Protocol: 2})
	}
	return redis.NewClient(&redis.Options{Addr: r.Addr, Password: r.Password, DB: r.DB, Protocol: 2})
}

// asynqRedis is newRedisClient's Redis for asynqmon, which opens its own
// connections.
func asynqRedis(r config.Redis) asynq.RedisConnOpt {
	if sen := r.Sentinel; len(sen.Addrs) > 0 {
		return asynq.RedisFailoverClientOpt{MasterName: sen.Master, SentinelAddrs: sen.Addrs,
			SentinelPassword: sen.Password, Password: r.Password, DB: r.DB}
	}
	return asynq.RedisClientOpt{Addr: r.Addr, Password: r.Password, DB: r.DB}
}

// Close closes the Redis connection. The asynq client shares it and has
// nothing of its own to close.
func (c *core) Close() error {
	err := c.rdb.Close()
	if c.embedded != nil {
		c.embedded.Close()
	}
	return err
}

// openServerRedis loads the config and connects to the Redis that the
// server uses, for commands that work on its data (emit, suppress, forget,
// export-subject). The embedded dev Redis is refused: a private in-memory
// one would not be the server's.
func openServerRedis(ctx context.Context, configPath string, stderr io.Writer) (*core, *slog.Logger, error) {
	cfg, err := config.LoadValid(configPath)
	if err != nil {
		return nil, nil, err
	}
	if !cfg.Redis.Real() {
		return nil, nil, errors.New("redis.addr: is empty; this command needs the Redis that the server uses (with the embedded dev Redis, use the HTTP API instead)")
	}
	log := newLogger(cfg.Log, stderr)
	c, err := openCore(ctx, cfg, log)
	return c, log, err
}

func addrOf(a net.Addr) string {
	if a == nil {
		return "off"
	}
	return a.String()
}

// serveHTTP serves h on ln until Close.
func (m *Main) serveHTTP(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	m.httpSrvs = append(m.httpSrvs, httpServer{srv, done})
}

type httpServer struct {
	srv  *http.Server
	done chan error
}

// warnIfRedisForgets tells ops when Redis may lose acknowledged writes in
// a crash: a lost hand-over lets a retry send the same email again. Managed
// Redis often refuses CONFIG; then nothing can be said.
func warnIfRedisForgets(ctx context.Context, rdb redis.UniversalClient, log *slog.Logger) {
	got, err := rdb.ConfigGet(ctx, "append*").Result()
	if err != nil {
		log.Debug("cannot read Redis persistence settings", "error", "CONFIG GET refused")
		return
	}
	if got["appendonly"] != "yes" || got["appendfsync"] != "always" {
		log.Warn("Redis does not write every change to disk before answering: a Redis crash can forget the last second, "+
			"and a reminder handed over in it could be sent twice. Fix: appendonly yes and appendfsync always, "+
			"or replicas with redis.wait_replicas", "appendonly", got["appendonly"], "appendfsync", got["appendfsync"])
	}
}

// historyFor is how long send histories are kept: the longest frequency
// cap period of any storefront.
func historyFor(sfs map[string]basket.Storefront) time.Duration {
	var d time.Duration
	for _, s := range sfs {
		d = max(d, s.Policy.FrequencyCap.Per)
	}
	return d
}

// storefrontsOf turns the configured storefronts into the domain type.
func storefrontsOf(cfg config.Config) []basket.Storefront {
	out := make([]basket.Storefront, 0, len(cfg.Storefronts))
	for _, s := range cfg.Storefronts {
		locale := s.DefaultLocale
		if locale == "" {
			locale = "en-GB"
		}
		bounceDomain := s.BounceDomain
		if bounceDomain == "" {
			bounceDomain = cfg.Bounces.Domain
		}
		loc := time.UTC
		if s.Timezone != "" {
			loc, _ = time.LoadLocation(s.Timezone) // validated
		}
		out = append(out, basket.Storefront{ID: s.ID, Name: s.Name, From: s.From, BasketURL: s.BasketURL,
			PostalAddress: s.PostalAddress, DefaultLocale: locale, Contact: s.Contact, BounceDomain: bounceDomain,
			Location: loc, Policy: cfg.PolicyFor(s)})
	}
	return out
}

// loadTemplates loads the email templates (built-in, and templates.dir) and
// renders every storefront × locale × step once, so that a broken template
// stops start-up with its file and line.
func loadTemplates(cfg config.Config, storefronts map[string]basket.Storefront) (*templates.Renderer, error) {
	var ids []string
	var check []templates.Storefront
	for _, s := range storefronts {
		ids = append(ids, s.ID)
		check = append(check, templates.Storefront{ID: s.ID, Name: s.Name, DefaultLocale: s.DefaultLocale})
	}
	r, err := templates.New(templates.Options{Dir: cfg.Templates.Dir, Storefronts: ids})
	if err != nil {
		return nil, err
	}
	if err := r.Check(check, len(cfg.Reminders.Steps)); err != nil {
		return nil, fmt.Errorf("templates:\n%w", err)
	}
	return r, nil
}

// Close shuts down gracefully: the web server stops accepting and finishes
// its requests, the worker finishes in-flight tasks (asynq puts back what
// cannot finish in worker.shutdown_timeout), then connections close.
func (m *Main) Close() error {
	var errs []error
	if m.bounces != nil {
		errs = append(errs, m.bounces.Close())
		m.bounces = nil
	}
	for _, h := range m.httpSrvs {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		errs = append(errs, h.srv.Shutdown(ctx))
		cancel()
		if err := <-h.done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	m.httpSrvs = nil
	for _, mon := range m.monitoring {
		errs = append(errs, mon.Close())
	}
	m.monitoring = nil
	if m.stopDispatcher != nil {
		m.stopDispatcher()
		m.stopDispatcher = nil
	}
	if m.asynqSrv != nil {
		m.asynqSrv.Shutdown()
		m.asynqSrv = nil
	}
	if m.smtpSender != nil {
		errs = append(errs, m.smtpSender.Close())
		m.smtpSender = nil
	}
	if m.core != nil {
		errs = append(errs, m.core.Close())
		m.core = nil
	}
	return errors.Join(errs...)
}

// outboxDir is the folder /outbox lists: only in dev mode, where emails go there.
func outboxDir(cfg config.Config) string {
	if cfg.SMTP.Host != "" {
		return ""
	}
	return cfg.Outbox.Dir
}

func runServer(ctx context.Context, cmd, configPath string, args []string, stdout, stderr io.Writer) error {
	fs := commandFlags(cmd, &configPath, stderr)
	if err := parseArgs(fs, args, stdout, 0, ""); err != nil {
		return err
	}
	cfg, err := config.LoadValid(configPath)
	if err != nil {
		return err
	}
	did := applyDevDefaults(&cfg, configPath)
	if err := soloOnEmbeddedRedis(cmd, cfg); err != nil {
		return err
	}
	printDevBanner(stderr, cfg, did)
	log := newLogger(cfg.Log, stderr)
	if os.Getenv("GOMEMLIMIT") == "" {
		// Keep the heap near a fixed size whatever the load: bursts of
		// large event batches otherwise let it double before each
		// collection, and peak RSS grow with the length of a busy spell.
		debug.SetMemoryLimit(memoryLimit(cfg.Worker.Concurrency, cmd != "web"))
	}
	m := &Main{Config: cfg, Worker: cmd != "web", Web: cmd != "worker", Logger: log}
	if err := m.Run(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("shutting down")
	return m.Close()
}

// memoryLimit is the Go runtime's soft memory limit for serve, worker and
// web unless GOMEMLIMIT sets one: about what the service needs under full
// load, so that the collector runs more often rather than the heap growing
// (scripts/bench.sh --full: peak RSS 51–56 MB from 10k to 1M pending
// baskets, against 63–86 MB without a limit; no loss of throughput measured
// against 48 MiB). A worker's need grows with worker.concurrency, the email
// tasks it runs at once (each holds up to 10 rendered reminders) and the
// event tasks (a quarter as many, each a batch of decoded events): 16 MiB
// and 1 MiB per task, 36 MiB at the default 20. A limit that ignored it,
// 36 MiB at concurrency 80, kept the collector running without pause:
// 1,309 sends/s against 3,225 with no limit; 66 MiB was enough
// (scripts/bench.sh, "sends at worker.concurrency 80").
func memoryLimit(concurrency int, worker bool) int64 {
	const floor, base, perTask = 36 << 20, 16 << 20, 1 << 20
	if !worker {
		return floor
	}
	return max(floor, base+int64(concurrency)*perTask)
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	level := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[c.Level]
	opts := &slog.HandlerOptions{Level: level}
	format := c.Format
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && isTerminal(f) {
			format = "text"
		}
	}
	if strings.EqualFold(format, "text") {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
