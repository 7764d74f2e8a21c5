// Package config loads basketassist's configuration from a YAML file and
// BASKETASSIST_* environment variables into a typed Config, and validates it
// with messages that name the key and the fix. It is the only user of viper.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"golang.org/x/text/language"

	"github.com/basketassist/basketassist/policy"
	"github.com/basketassist/basketassist/secrets"
)

// Config is the whole configuration. Each field's zero value is described
// where it differs from the default that Load applies.
type Config struct {
	Redis     Redis     `mapstructure:"redis"`
	SMTP      SMTP      `mapstructure:"smtp"`
	Web       Web       `mapstructure:"web"`
	Secrets   Secrets   `mapstructure:"secrets"`
	Worker    Worker    `mapstructure:"worker"`
	Reminders Reminders `mapstructure:"reminders"`
	Retention Retention `mapstructure:"retention"`
	Log       Log       `mapstructure:"log"`
	Outbox    Outbox    `mapstructure:"outbox"`
	Templates Templates `mapstructure:"templates"`
	DKIM      DKIM      `mapstructure:"dkim"`
	Bounces   Bounces   `mapstructure:"bounces"`
	// Policy is every storefront's sending policy, unless its own
	// storefronts[].policy overrides a key.
	Policy      policy.Policy `mapstructure:"policy"`
	Storefronts []Storefront  `mapstructure:"storefronts"`
}

// Bounces says how bounces are heard and what they do.
type Bounces struct {
	// SoftLimit is how many temporary refusals about a recipient's mailbox
	// in a row suppress them globally as soft_bounce; 0 never does.
	SoftLimit int `mapstructure:"soft_limit"`
	// Domain is the bounce domain of every storefront without its own:
	// reminders go out with the envelope sender b-<token>@Domain. Use a
	// subdomain of the From domain, so SPF aligns for DMARC.
	Domain string `mapstructure:"domain"`
	// Listen is where the inbound SMTP listener for bounce and complaint
	// reports listens (the worker runs it); "" turns it off.
	Listen string `mapstructure:"listen"`
	// MaxMessageBytes bounds one report, or one provider webhook body;
	// larger ones are refused.
	MaxMessageBytes int64 `mapstructure:"max_message_bytes"`
	// SES turns on POST /v1/feedback/ses for Amazon SES notifications
	// delivered by SNS.
	SES SESFeedback `mapstructure:"ses"`
	// SendGrid turns on POST /v1/feedback/sendgrid, SendGrid's signed
	// event webhook.
	SendGrid SendGridFeedback `mapstructure:"sendgrid"`
}

// SESFeedback configures the SES webhook.
type SESFeedback struct {
	// TopicARNs are the SNS topics SES publishes bounces and complaints
	// to; messages of any other topic are refused, however well signed.
	// Empty: the route is off.
	TopicARNs []string `mapstructure:"topic_arns"`
}

// SendGridFeedback configures the SendGrid webhook.
type SendGridFeedback struct {
	// VerificationKey is the public key SendGrid shows under Mail
	// Settings, Signed Event Webhook (base64, or PEM). Empty: the route is
	// off.
	VerificationKey string `mapstructure:"verification_key"`
}

// Redis is where queues and state live.
type Redis struct {
	Addr string `mapstructure:"addr"` // host:port; "" runs an embedded in-memory Redis (dev only), unless Sentinel is set
	// Sentinel, instead of Addr, finds the primary through Redis Sentinel
	// and follows it when Sentinel fails over to a replica.
	Sentinel Sentinel `mapstructure:"sentinel"`
	Password string   `mapstructure:"password"`
	DB       int      `mapstructure:"db"`
	Prefix   string   `mapstructure:"prefix"` // prefix of basketassist's own keys (asynq's are always "asynq:")
	// WaitReplicas is how many replicas must confirm a hand-over or a
	// suppression before it counts (Redis WAIT), so that a failover to a
	// replica forgets neither; WaitTimeout bounds each wait.
	WaitReplicas int           `mapstructure:"wait_replicas"`
	WaitTimeout  time.Duration `mapstructure:"wait_timeout"`
}

// Sentinel names the Redis Sentinel deployment to find the primary through.
type Sentinel struct {
	Master   string   `mapstructure:"master"`   // the monitored primary's name (sentinel monitor <name> …)
	Addrs    []string `mapstructure:"addrs"`    // host:port of one or more Sentinels; empty: no Sentinel
	Password string   `mapstructure:"password"` // the Sentinels' own (requirepass in sentinel.conf), if any
}

// Real reports whether a real Redis is configured (an address or Sentinel),
// not the embedded dev one.
func (r Redis) Real() bool { return r.Addr != "" || len(r.Sentinel.Addrs) > 0 }

// Where names the configured Redis for logs and errors: its address, or
// the Sentinel master's name and the Sentinels asked.
func (r Redis) Where() string {
	if len(r.Sentinel.Addrs) > 0 {
		return fmt.Sprintf("Sentinel master %q via %s", r.Sentinel.Master, strings.Join(r.Sentinel.Addrs, ", "))
	}
	return r.Addr
}

// SMTP is the outgoing mail server.
type SMTP struct {
	Host         string        `mapstructure:"host"` // "" writes emails to outbox.dir instead (dev only)
	Port         int           `mapstructure:"port"`
	Username     string        `mapstructure:"username"`
	Password     string        `mapstructure:"password"`
	PasswordFile string        `mapstructure:"password_file"` // or a file holding it
	TLS          string        `mapstructure:"tls"`           // none | starttls | opportunistic | tls
	Connections  int           `mapstructure:"connections"`
	Timeout      time.Duration `mapstructure:"timeout"`
}

// Web is the HTTP side.
type Web struct {
	// Listen serves what the internet needs: ingest, the customer pages,
	// the provider webhooks, /healthz.
	Listen string `mapstructure:"listen"`
	// OpsListen serves the rest: /metrics, /readyz, /monitoring/, the admin
	// API, /outbox. Equal to Listen: one port for everything.
	OpsListen      string  `mapstructure:"ops_listen"`
	PublicURL      string  `mapstructure:"public_url"`       // base of links in emails; https outside loopback
	AdminToken     string  `mapstructure:"admin_token"`      // every role; "" for none
	AdminTokenFile string  `mapstructure:"admin_token_file"` // or a file holding it
	Tokens         []Token `mapstructure:"tokens"`
}

// Token is a named ops token with the roles it holds (web.Roles).
type Token struct {
	Name  string   `mapstructure:"name"`
	Token string   `mapstructure:"token"`
	Roles []string `mapstructure:"roles"`
}

// RateLimit is a storefront's ingest budget: a token bucket of events.
type RateLimit struct {
	EventsPerSecond float64 `mapstructure:"events_per_second"`
	Burst           int     `mapstructure:"burst"`
}

// DefaultRateLimit is the budget of a storefront that sets none: room for
// two full batches at once, and 100 events a second after.
var DefaultRateLimit = RateLimit{EventsPerSecond: 100, Burst: 1000}

// OpsRoles are the roles a token may hold (web.Roles, which the web
// package checks; kept here so that config can validate without it).
var OpsRoles = []string{"suppressions:check", "suppressions:write", "subjects", "baskets:read",
	"monitoring:read", "monitoring:write", "metrics"}

// Secrets holds the master key; HMAC and AES keys are derived from it.
type Secrets struct {
	Key     string `mapstructure:"key"`      // base64 of 32 bytes; required unless Redis is embedded
	KeyFile string `mapstructure:"key_file"` // or a file holding it (a mounted secret)
}

// Worker tunes the task server.
type Worker struct {
	Concurrency     int           `mapstructure:"concurrency"`
	PollInterval    time.Duration `mapstructure:"poll_interval"`    // how often due reminders are checked
	RetryBase       time.Duration `mapstructure:"retry_base"`       // first retry delay, doubling up to 1h
	MaxRetry        int           `mapstructure:"max_retry"`        // retries of a failing send (4xx, the relay's refusal, Redis down)
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"` // time for in-flight tasks at shutdown
}

// Reminders is the email sequence.
type Reminders struct {
	Steps []Step `mapstructure:"steps"`
}

// Step is one reminder email.
type Step struct {
	After time.Duration `mapstructure:"after"` // delay from the basket's last activity
}

// Retention says how long data is kept.
type Retention struct {
	Basket      time.Duration `mapstructure:"basket"`      // basket state, after last activity
	Idempotency time.Duration `mapstructure:"idempotency"` // per-step send claims
	Events      time.Duration `mapstructure:"events"`      // deprecated: bounded the per-event dedupe markers of versions before 2026-12; accepted, unused
}

// Outbox is where emails go in dev mode, when smtp.host is empty.
type Outbox struct {
	Dir string `mapstructure:"dir"` // one .eml file per email
}

// Templates configures email templates.
type Templates struct {
	Dir string `mapstructure:"dir"` // override folder; "" uses the built-in templates only
}

// DKIM configures signing. All three keys, or none (no signing).
type DKIM struct {
	Domain   string `mapstructure:"domain"`
	Selector string `mapstructure:"selector"`
	KeyFile  string `mapstructure:"key_file"` // PEM: RSA (PKCS#1 or #8) or Ed25519
}

// Log configures logging.
type Log struct {
	Level  string `mapstructure:"level"`  // debug | info | warn | error
	Format string `mapstructure:"format"` // json | text | auto (text on a terminal)
}

// Storefront is one shop.
type Storefront struct {
	ID            string `mapstructure:"id"`
	Name          string `mapstructure:"name"`
	From          string `mapstructure:"from"`
	APIKey        string `mapstructure:"api_key"`
	APIKeyFile    string `mapstructure:"api_key_file"` // or a file holding it
	BasketURL     string `mapstructure:"basket_url"`
	PostalAddress string `mapstructure:"postal_address"`
	DefaultLocale string `mapstructure:"default_locale"`
	Contact       string `mapstructure:"contact"`       // help address or URL; "" means the from address
	BounceDomain  string `mapstructure:"bounce_domain"` // overrides bounces.domain
	// Timezone is the storefront's IANA zone, for quiet hours of customers
	// without customer.timezone; "" is UTC.
	Timezone string         `mapstructure:"timezone"`
	Policy   PolicyOverride `mapstructure:"policy"`
	// RateLimit bounds this storefront's ingest; nil: DefaultRateLimit.
	RateLimit *RateLimit `mapstructure:"rate_limit"`
}

// Limit is the storefront's ingest budget.
func (s Storefront) Limit() RateLimit {
	if s.RateLimit == nil {
		return DefaultRateLimit
	}
	return *s.RateLimit
}

// PolicyOverride is a storefront's policy: each key it sets replaces the
// global policy's.
type PolicyOverride struct {
	Consent      *string          `mapstructure:"consent"`
	FrequencyCap *policy.Cap      `mapstructure:"frequency_cap"`
	QuietHours   *policy.Hours    `mapstructure:"quiet_hours"`
	MaxAge       *time.Duration   `mapstructure:"max_age"`
	MinValue     map[string]int64 `mapstructure:"min_value"`
	DryRun       *bool            `mapstructure:"dry_run"`
}

// PolicyFor is the policy of storefront s: the global one with s's
// overrides.
func (c Config) PolicyFor(s Storefront) policy.Policy {
	p, o := c.Policy, s.Policy
	if o.Consent != nil {
		p.Consent = *o.Consent
	}
	if o.FrequencyCap != nil {
		p.FrequencyCap = *o.FrequencyCap
	}
	if o.QuietHours != nil {
		p.QuietHours = *o.QuietHours
	}
	if o.MaxAge != nil {
		p.MaxAge = *o.MaxAge
	}
	if o.MinValue != nil {
		p.MinValue = o.MinValue
	}
	if o.DryRun != nil {
		p.DryRun = *o.DryRun
	}
	return p
}

// EnvPrefix is the prefix of environment overrides: redis.addr is BASKETASSIST_REDIS_ADDR.
const EnvPrefix = "BASKETASSIST"

func defaults() map[string]any {
	return map[string]any{
		"redis.addr": "", "redis.password": "", "redis.db": 0, "redis.prefix": "ba:",
		"redis.sentinel.master": "", "redis.sentinel.addrs": []string{}, "redis.sentinel.password": "",
		"redis.wait_replicas": 0, "redis.wait_timeout": "1s",
		"smtp.host": "", "smtp.port": 1025, "smtp.username": "", "smtp.password": "",
		"smtp.tls": "none", "smtp.connections": 4, "smtp.timeout": "30s",
		"web.listen": "127.0.0.1:8080", "web.ops_listen": "127.0.0.1:9090", "web.public_url": "http://127.0.0.1:8080",
		"web.admin_token": "", "web.admin_token_file": "", "web.tokens": []map[string]any{},
		"secrets.key_file": "", "smtp.password_file": "",
		"secrets.key":        "",
		"worker.concurrency": 20, "worker.poll_interval": "100ms", "worker.retry_base": "30s",
		"worker.max_retry": 10, "worker.shutdown_timeout": "30s",
		"reminders.steps":  []map[string]any{{"after": "1h"}, {"after": "24h"}},
		"retention.basket": "720h", "retention.idempotency": "720h", "retention.events": "168h",
		"bounces.soft_limit": 3, "bounces.domain": "", "bounces.listen": "", "bounces.max_message_bytes": 1 << 20,
		"bounces.ses.topic_arns": []string{}, "bounces.sendgrid.verification_key": "",
		"policy.consent": policy.ConsentRequired, "policy.frequency_cap.max": 1, "policy.frequency_cap.per": "24h",
		"policy.quiet_hours.start": "21:00", "policy.quiet_hours.end": "08:00", "policy.max_age": "72h",
		"policy.min_value": map[string]any{}, "policy.dry_run": false,
		"log.level": "info", "log.format": "auto",
		"outbox.dir":  "./outbox",
		"storefronts": []map[string]any{},
	}
}

// LoadValid loads the configuration at path and validates it, returning
// every problem at once, one line each: values of the wrong type (Load's
// *WrongTypes) with the other problems Validate finds beside them, leaving
// out what only repeats a wrongly typed key.
func LoadValid(path string) (Config, error) {
	c, err := Load(path)
	var wrong *WrongTypes
	if err != nil && !errors.As(err, &wrong) {
		return c, err
	}
	verr := c.Validate()
	if err == nil {
		if verr != nil {
			return c, fmt.Errorf("invalid configuration:\n%w", verr)
		}
		return c, nil
	}
	var more []error
	for _, e := range unjoin(verr) {
		key, _, _ := strings.Cut(e.Error(), ": ")
		if !slices.Contains(wrong.Keys, key) {
			more = append(more, e)
		}
	}
	return c, errors.Join(append([]error{err}, more...)...)
}

// unjoin is the errors joined in err (Validate's lines), or err alone.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// Load reads the YAML file at path ("" for none), then the environment.
// It does not validate: call Validate, or LoadValid for both. After values
// of the wrong type (a *WrongTypes error) it returns what did decode.
func Load(path string) (Config, error) {
	v := viper.New()
	for k, val := range defaults() {
		v.SetDefault(k, val)
	}
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	for _, k := range Leaves() {
		_ = v.BindEnv(k) // keys without a default are read from the environment too
	}
	if err := unknownEnv(); err != nil {
		return Config{}, fmt.Errorf("environment:\n%w", err)
	}
	if path != "" {
		v.SetConfigFile(path)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return Config{}, fmt.Errorf("config %s: %w", path, fileProblem(err))
		}
	}
	var c Config
	err := v.Unmarshal(&c, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		jsonListHook, mapstructure.StringToTimeDurationHookFunc(),
	)), func(dc *mapstructure.DecoderConfig) { dc.ErrorUnused = true })
	if err != nil {
		problem := decodeProblem(err)
		var wrong *WrongTypes
		if errors.As(problem, &wrong) {
			// What decoded is kept, so that LoadValid can name the
			// file's other problems beside these.
			return c, fmt.Errorf("config:\n%w", problem)
		}
		return Config{}, fmt.Errorf("config:\n%w", problem)
	}
	errs := []error{fromFile("secrets.key", &c.Secrets.Key, c.Secrets.KeyFile),
		fromFile("smtp.password", &c.SMTP.Password, c.SMTP.PasswordFile),
		fromFile("web.admin_token", &c.Web.AdminToken, c.Web.AdminTokenFile)}
	for i := range c.Storefronts {
		errs = append(errs, fromFile(fmt.Sprintf("storefronts[%d].api_key", i), &c.Storefronts[i].APIKey, c.Storefronts[i].APIKeyFile))
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("config:\n%w", err)
	}
	// Viper lower-cases map keys; currency codes are upper case.
	c.Policy.MinValue = upperKeys(c.Policy.MinValue)
	for i := range c.Storefronts {
		c.Storefronts[i].Policy.MinValue = upperKeys(c.Storefronts[i].Policy.MinValue)
	}
	return c, nil
}

func upperKeys(m map[string]int64) map[string]int64 {
	if m == nil {
		return nil
	}
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[strings.ToUpper(k)] = v
	}
	return out
}

// jsonListHook lets list-valued keys come from the environment as JSON, e.g.
// BASKETASSIST_STOREFRONTS='[{"id":"pink",...}]' or
// BASKETASSIST_BOUNCES_SES_TOPIC_ARNS='["arn:aws:sns:..."]'.
func jsonListHook(from, to reflect.Type, data any) (any, error) {
	s, ok := data.(string)
	if ok && from.Kind() == reflect.String && to.Kind() == reflect.Map {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			return nil, fmt.Errorf("a map from the environment must be a JSON object: %w", err)
		}
		return m, nil
	}
	if !ok || from.Kind() != reflect.String || to.Kind() != reflect.Slice {
		return data, nil
	}
	var out []any
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("a list from the environment must be a JSON array: %w", err)
	}
	return out, nil
}

var snsTopicARN = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]{1,256}$`)

// BounceDomains lists every bounce domain, global and per storefront, once.
// StepDelays are the reminder steps' delays, in order.
func (c Config) StepDelays() []time.Duration {
	out := make([]time.Duration, len(c.Reminders.Steps))
	for i, s := range c.Reminders.Steps {
		out[i] = s.After
	}
	return out
}

func (c Config) BounceDomains() []string {
	var out []string
	for _, d := range append([]string{c.Bounces.Domain}, storefrontBounceDomains(c.Storefronts)...) {
		if d != "" && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

func storefrontBounceDomains(sfs []Storefront) []string {
	out := make([]string, len(sfs))
	for i, s := range sfs {
		out[i] = s.BounceDomain
	}
	return out
}

// isDomain accepts a plain DNS name with at least one dot.
func isDomain(s string) bool {
	return strings.Contains(s, ".") && !strings.ContainsAny(s, "@/: ") && !strings.HasPrefix(s, ".") && !strings.HasSuffix(s, ".")
}

// Embedded reports whether Redis or SMTP run in dev mode (embedded Redis,
// outbox folder instead of SMTP).
func (c Config) Embedded() bool { return !c.Redis.Real() || c.SMTP.Host == "" }

var (
	storefrontID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	logLevels    = map[string]bool{"debug": true, "info": true, "warn": true, "error": true}
)

// Validate checks c and returns every problem, one per line, each naming its key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.Redis.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Redis.Addr); err != nil {
			bad("redis.addr", "must be host:port, got %q", c.Redis.Addr)
		}
	}
	if sen := c.Redis.Sentinel; len(sen.Addrs) > 0 {
		if c.Redis.Addr != "" {
			bad("redis.addr", "must be empty when redis.sentinel.addrs is set (Sentinel names the primary), got %q", c.Redis.Addr)
		}
		if sen.Master == "" {
			bad("redis.sentinel.master", "is required with redis.sentinel.addrs: the name in sentinel.conf's \"sentinel monitor <name> …\"")
		}
		for i, a := range sen.Addrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				bad(fmt.Sprintf("redis.sentinel.addrs[%d]", i), "must be host:port, e.g. 10.0.0.5:26379, got %q", a)
			}
		}
	} else if c.Redis.Sentinel.Master != "" {
		bad("redis.sentinel.addrs", "must list at least one Sentinel (host:port) when redis.sentinel.master is set")
	}
	if c.Bounces.Domain != "" && !isDomain(c.Bounces.Domain) {
		bad("bounces.domain", "must be a domain like bounces.pink.example, got %q", c.Bounces.Domain)
	}
	if c.Bounces.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Bounces.Listen); err != nil {
			bad("bounces.listen", "must be host:port, got %q", c.Bounces.Listen)
		}
		if len(c.BounceDomains()) == 0 {
			bad("bounces.listen", "needs bounces.domain or a storefronts[].bounce_domain: the mail it accepts")
		}
	}
	for i, arn := range c.Bounces.SES.TopicARNs {
		if !snsTopicARN.MatchString(arn) {
			bad(fmt.Sprintf("bounces.ses.topic_arns[%d]", i), "must be an SNS topic ARN like arn:aws:sns:eu-west-1:123456789012:ses-feedback, got %q", arn)
		}
	}
	if c.Bounces.MaxMessageBytes <= 0 {
		bad("bounces.max_message_bytes", "must be positive, got %d", c.Bounces.MaxMessageBytes)
	}
	if c.Bounces.SoftLimit < 0 {
		bad("bounces.soft_limit", "must not be negative (0 turns it off), got %d", c.Bounces.SoftLimit)
	}
	if c.Redis.WaitReplicas < 0 {
		bad("redis.wait_replicas", "must not be negative, got %d", c.Redis.WaitReplicas)
	}
	if c.Redis.WaitReplicas > 0 && c.Redis.WaitTimeout <= 0 {
		bad("redis.wait_timeout", "must be positive when redis.wait_replicas is set, got %s", c.Redis.WaitTimeout)
	}
	if c.Redis.DB < 0 {
		bad("redis.db", "must not be negative, got %d", c.Redis.DB)
	}
	if strings.ContainsAny(c.Redis.Prefix, "{} ") {
		bad("redis.prefix", "must not contain braces or spaces, got %q", c.Redis.Prefix)
	}
	// Checked with or without smtp.host: a value set wrong now would stop
	// the service the day a host is added.
	if c.SMTP.Port < 1 || c.SMTP.Port > 65535 {
		bad("smtp.port", "must be 1-65535, got %d", c.SMTP.Port)
	}
	switch c.SMTP.TLS {
	case "none", "starttls", "opportunistic", "tls":
	default:
		bad("smtp.tls", "must be none, starttls, opportunistic or tls, got %q", c.SMTP.TLS)
	}
	if c.SMTP.Connections < 1 || c.SMTP.Connections > 100 {
		bad("smtp.connections", "must be 1-100, got %d", c.SMTP.Connections)
	}
	if c.SMTP.Password != "" && c.SMTP.Username == "" {
		bad("smtp.username", "is required when smtp.password is set")
	}
	if c.SMTP.Timeout <= 0 {
		bad("smtp.timeout", "must be positive, e.g. 30s")
	}
	if _, _, err := net.SplitHostPort(c.Web.Listen); err != nil {
		bad("web.listen", "must be host:port, e.g. 127.0.0.1:8080, got %q", c.Web.Listen)
	}
	if u, err := url.Parse(c.Web.PublicURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		bad("web.public_url", "must be an absolute URL like https://basket.example.com, got %q", c.Web.PublicURL)
	} else if u.Scheme != "https" && !loopback(u.Hostname()) {
		bad("web.public_url", "must be https (RFC 8058 one-click unsubscribe requires it); http is allowed only for localhost, got %q", c.Web.PublicURL)
	}
	if _, _, err := net.SplitHostPort(c.Web.OpsListen); err != nil {
		bad("web.ops_listen", "must be host:port, e.g. 127.0.0.1:9090 (or web.listen's address for one port), got %q", c.Web.OpsListen)
	}
	if c.Web.AdminToken != "" && placeholder(c.Web.AdminToken) {
		bad("web.admin_token", "is a placeholder, not a secret (generate one with: openssl rand -hex 24)")
	} else if c.Web.AdminToken != "" && len(c.Web.AdminToken) < 16 {
		bad("web.admin_token", "must be at least 16 characters (generate one with: openssl rand -hex 24)")
	}
	names := map[string]bool{}
	for i, t := range c.Web.Tokens {
		key := fmt.Sprintf("web.tokens[%d]", i)
		if t.Name == "" || names[t.Name] {
			bad(key+".name", "must be set and unique (logs name the token by it), got %q", t.Name)
		}
		names[t.Name] = true
		if placeholder(t.Token) {
			bad(key+".token", "is a placeholder, not a secret (generate one with: openssl rand -hex 24)")
		} else if len(t.Token) < 16 {
			bad(key+".token", "must be at least 16 characters (generate one with: openssl rand -hex 24)")
		}
		if len(t.Roles) == 0 {
			bad(key+".roles", "must list at least one of %s", strings.Join(OpsRoles, ", "))
		}
		for _, r := range t.Roles {
			if !slices.Contains(OpsRoles, r) {
				bad(key+".roles", "%q is not a role; roles: %s", r, strings.Join(OpsRoles, ", "))
			}
		}
	}
	if c.Secrets.Key == "" {
		if c.Redis.Real() {
			bad("secrets.key", "is required with a real Redis (generate one with: openssl rand -base64 32)")
		}
	} else if placeholder(c.Secrets.Key) {
		bad("secrets.key", "is a placeholder, not a key (generate one with: openssl rand -base64 32)")
	} else if _, err := secrets.ParseKey(c.Secrets.Key); err != nil {
		bad("secrets.key", "%v", err)
	}
	if c.Worker.Concurrency < 1 {
		bad("worker.concurrency", "must be at least 1, got %d", c.Worker.Concurrency)
	}
	if c.Worker.PollInterval < 100*time.Millisecond || c.Worker.PollInterval > time.Minute {
		bad("worker.poll_interval", "must be 100ms-1m, got %s", c.Worker.PollInterval)
	}
	if c.Worker.RetryBase <= 0 {
		bad("worker.retry_base", "must be positive, e.g. 30s")
	}
	if c.Worker.MaxRetry < 1 {
		bad("worker.max_retry", "must be at least 1, got %d (a reminder with no retry is lost at the first 4xx or Redis blip)", c.Worker.MaxRetry)
	}
	if c.Worker.ShutdownTimeout <= 0 {
		bad("worker.shutdown_timeout", "must be positive, e.g. 30s")
	}
	if len(c.Reminders.Steps) == 0 || len(c.Reminders.Steps) > 10 {
		bad("reminders.steps", "must have 1-10 steps, got %d", len(c.Reminders.Steps))
	}
	for i, s := range c.Reminders.Steps {
		if s.After <= 0 {
			bad(fmt.Sprintf("reminders.steps[%d].after", i), "must be a positive duration like 1h, got %s", s.After)
		} else if i > 0 && s.After <= c.Reminders.Steps[i-1].After {
			bad(fmt.Sprintf("reminders.steps[%d].after", i), "must be later than step %d's (%s): delays count from the last basket activity", i, c.Reminders.Steps[i-1].After)
		}
	}
	for key, d := range map[string]time.Duration{"retention.basket": c.Retention.Basket, "retention.idempotency": c.Retention.Idempotency, "retention.events": c.Retention.Events} {
		if d < time.Hour {
			bad(key, "must be at least 1h, got %s", d)
		}
	}
	if len(c.Reminders.Steps) > 0 && c.Retention.Basket > 0 && c.Reminders.Steps[len(c.Reminders.Steps)-1].After >= c.Retention.Basket {
		bad("retention.basket", "must be longer than the last reminder step (%s), or that step finds no basket", c.Reminders.Steps[len(c.Reminders.Steps)-1].After)
	}
	if !logLevels[c.Log.Level] {
		bad("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" && c.Log.Format != "auto" {
		bad("log.format", "must be json, text or auto, got %q", c.Log.Format)
	}
	if set := countSet(c.DKIM.Domain, c.DKIM.Selector, c.DKIM.KeyFile); set != 0 && set != 3 {
		bad("dkim", "set all of dkim.domain, dkim.selector and dkim.key_file, or none")
	}
	if c.SMTP.Host == "" && strings.TrimSpace(c.Outbox.Dir) == "" {
		bad("outbox.dir", "is required when smtp.host is empty (dev mode writes emails there)")
	}
	var lastStep time.Duration
	if n := len(c.Reminders.Steps); n > 0 {
		lastStep = c.Reminders.Steps[n-1].After
	}
	for _, err := range c.Policy.Validate(lastStep) {
		errs = append(errs, fmt.Errorf("policy.%w", err))
	}
	for i, sf := range c.Storefronts {
		if l := sf.RateLimit; l != nil && (l.EventsPerSecond <= 0 || l.Burst < 1) {
			bad(fmt.Sprintf("storefronts[%d].rate_limit", i), "events_per_second must be positive and burst at least 1, got %g and %d", l.EventsPerSecond, l.Burst)
		}
		if sf.Timezone != "" {
			if _, err := time.LoadLocation(sf.Timezone); err != nil || sf.Timezone == "Local" {
				bad(fmt.Sprintf("storefronts[%d].timezone", i), "must be an IANA zone like Europe/London, got %q", sf.Timezone)
			}
		}
		if o := sf.Policy; o.Consent == nil && o.FrequencyCap == nil && o.QuietHours == nil && o.MaxAge == nil &&
			o.MinValue == nil && o.DryRun == nil {
			continue // nothing overridden: the global policy's problems are reported once
		}
		for _, err := range c.PolicyFor(sf).Validate(lastStep) {
			errs = append(errs, fmt.Errorf("storefronts[%d].policy.%w", i, err))
		}
	}
	if c.Redis.Real() || len(c.Storefronts) > 0 {
		// With embedded Redis and no storefront, dev mode adds a demo storefront.
		errs = append(errs, c.validateStorefronts()...)
	}
	return errors.Join(errs...)
}

func (c Config) validateStorefronts() []error {
	var errs []error
	if len(c.Storefronts) == 0 {
		return []error{errors.New("storefronts: at least one storefront is required (see README, Configuration)")}
	}
	ids, keys := map[string]bool{}, map[string]bool{}
	for i, s := range c.Storefronts {
		bad := func(key, format string, args ...any) {
			errs = append(errs, fmt.Errorf("storefronts[%d].%s: %s", i, key, fmt.Sprintf(format, args...)))
		}
		if !storefrontID.MatchString(s.ID) {
			bad("id", "must be 1-64 of a-z 0-9 _ - (starting with a letter or digit), got %q", s.ID)
		} else if ids[s.ID] {
			bad("id", "%q is used twice", s.ID)
		}
		ids[s.ID] = true
		if strings.TrimSpace(s.Name) == "" {
			bad("name", "is required (shown in emails)")
		}
		if a, err := mail.ParseAddress(s.From); err != nil || !strings.Contains(a.Address, "@") {
			bad("from", "must be an address like \"Pink Shirts <hello@pink.example>\", got %q", s.From)
		}
		if placeholder(s.APIKey) {
			bad("api_key", "is a placeholder, not a secret (generate one with: openssl rand -hex 24)")
		} else if len(s.APIKey) < 16 {
			bad("api_key", "must be at least 16 characters (generate one with: openssl rand -hex 24)")
		} else if keys[s.APIKey] {
			bad("api_key", "is the same as another storefront's; each needs its own")
		}
		keys[s.APIKey] = true
		if u, err := url.Parse(strings.ReplaceAll(s.BasketURL, "{basket_id}", "x")); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			bad("basket_url", "must be an absolute URL, got %q", s.BasketURL)
		} else if !strings.Contains(s.BasketURL, "{basket_id}") {
			bad("basket_url", "must contain {basket_id}, e.g. https://shop.example/basket/{basket_id}")
		}
		if strings.TrimSpace(s.PostalAddress) == "" {
			bad("postal_address", "is required: marketing law (e.g. CAN-SPAM) wants it in every email")
		}
		if s.DefaultLocale != "" {
			if _, err := language.Parse(s.DefaultLocale); err != nil {
				bad("default_locale", "must be a BCP 47 tag like en-GB, got %q", s.DefaultLocale)
			}
		}
		if s.BounceDomain != "" && !isDomain(s.BounceDomain) {
			bad("bounce_domain", "must be a domain like bounces.pink.example, got %q", s.BounceDomain)
		}
	}
	return errs
}

func countSet(values ...string) int {
	n := 0
	for _, v := range values {
		if v != "" {
			n++
		}
	}
	return n
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
