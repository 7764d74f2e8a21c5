package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/policy"
)

const sample = `
redis: {addr: "127.0.0.1:6379", db: 3}
smtp: {host: "127.0.0.1", port: 1025}
web: {listen: "127.0.0.1:8080", public_url: "https://basket.pink.example", admin_token: "0123456789abcdef0123"}
secrets: {key: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}
reminders:
  steps: [{after: "30m"}, {after: "24h"}]
storefronts:
  - {id: "pink", name: "Pink Shirts", from: "Pink Shirts <hello@pink.example>", api_key: "pink-api-key-0123456789",
     basket_url: "https://pink.example/basket/{basket_id}", postal_address: "1 Jermyn Street, London"}
`

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "basketassist.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func TestLoadYAMLAndDefaults(t *testing.T) {
	c, err := Load(writeConfig(t, sample))
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	assert.Equal(t, 3, c.Redis.DB)
	assert.Equal(t, "ba:", c.Redis.Prefix, "default")
	assert.Equal(t, []Step{{After: 30 * time.Minute}, {After: 24 * time.Hour}}, c.Reminders.Steps)
	assert.Equal(t, 20, c.Worker.Concurrency)
	assert.Equal(t, 100*time.Millisecond, c.Worker.PollInterval)
	assert.Equal(t, "pink", c.Storefronts[0].ID)
}

func TestEnvironmentOverridesEveryKey(t *testing.T) {
	t.Setenv("BASKETASSIST_REDIS_ADDR", "10.0.0.5:6380")
	t.Setenv("BASKETASSIST_SMTP_PORT", "2525")
	t.Setenv("BASKETASSIST_WEB_ADMIN_TOKEN", "from-the-environment-123")
	t.Setenv("BASKETASSIST_WORKER_POLL_INTERVAL", "250ms")
	t.Setenv("BASKETASSIST_REMINDERS_STEPS", `[{"after":"2h"}]`)
	t.Setenv("BASKETASSIST_REDIS_WAIT_REPLICAS", "1")
	c, err := Load(writeConfig(t, sample))
	require.NoError(t, err)
	assert.Equal(t, "10.0.0.5:6380", c.Redis.Addr)
	assert.Equal(t, 2525, c.SMTP.Port)
	assert.Equal(t, "from-the-environment-123", c.Web.AdminToken)
	assert.Equal(t, 250*time.Millisecond, c.Worker.PollInterval)
	assert.Equal(t, []Step{{After: 2 * time.Hour}}, c.Reminders.Steps)
	assert.Equal(t, 1, c.Redis.WaitReplicas)
}

func TestStorefrontsFromEnvironmentWithoutFile(t *testing.T) {
	t.Setenv("BASKETASSIST_STOREFRONTS", `[{"id":"blue","name":"Blue","from":"b@blue.example","api_key":"blue-api-key-0123456789",
		"basket_url":"https://blue.example/b/{basket_id}","postal_address":"Blue Street 1"}]`)
	c, err := Load("")
	require.NoError(t, err)
	require.Len(t, c.Storefronts, 1)
	assert.Equal(t, "blue-api-key-0123456789", c.Storefronts[0].APIKey)
}

func TestUnknownKeyIsAnError(t *testing.T) {
	_, err := Load(writeConfig(t, sample+"\nsmpt: {host: x}\n"))
	assert.ErrorContains(t, err, "smpt")
}

// A file that is not YAML is reported in our words: its line and the
// parser's complaint, without what the parser quoted from the file.
func TestAFileThatIsNotYAMLNamesTheLine(t *testing.T) {
	cases := []struct{ body, want string }{
		{"smtp:\n  host: a\n  host: b\n", "not valid YAML at line 3: mapping key already defined at line 2"},
		{"smtp:\n\thost: a\n", "not valid YAML at line 2: found character that cannot start any token (YAML indents with spaces, never tabs)"},
		{"smtp:\n  password: \"sekrit-0123\n  port: 25\n", "not valid YAML at line 2: found unexpected end of stream"},
	}
	for _, c := range cases {
		p := writeConfig(t, c.body)
		_, err := Load(p)
		require.Error(t, err)
		assert.Equal(t, "config "+p+": "+c.want, err.Error())
	}
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"))
	assert.ErrorIs(t, err, os.ErrNotExist, "a file that cannot be read keeps the system's reason")
}

func TestValidateNamesKeyAndFix(t *testing.T) {
	base, err := Load(writeConfig(t, sample))
	require.NoError(t, err)
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"smtp port", func(c *Config) { c.SMTP.Port = 0 }, "smtp.port: must be 1-65535, got 0"},
		{"no retry", func(c *Config) { c.Worker.MaxRetry = 0 }, "worker.max_retry: must be at least 1, got 0"},
		{"smtp port without host", func(c *Config) { c.SMTP.Host, c.SMTP.Port = "", 70000 }, "smtp.port: must be 1-65535, got 70000"},
		{"wait replicas", func(c *Config) { c.Redis.WaitReplicas = -1 }, "redis.wait_replicas: must not be negative, got -1"},
		{"wait timeout", func(c *Config) { c.Redis.WaitReplicas, c.Redis.WaitTimeout = 1, 0 }, "redis.wait_timeout: must be positive when redis.wait_replicas is set"},
		{"tls", func(c *Config) { c.SMTP.TLS = "ssl" }, "smtp.tls: must be none, starttls, opportunistic or tls"},
		{"no key with real redis", func(c *Config) { c.Secrets.Key = "" }, "secrets.key: is required with a real Redis"},
		{"short key", func(c *Config) { c.Secrets.Key = "c2hvcnQ=" }, "secrets.key: must decode to 32 bytes"},
		{"http public url", func(c *Config) { c.Web.PublicURL = "http://basket.example" }, "web.public_url: must be https"},
		{"steps order", func(c *Config) { c.Reminders.Steps = []Step{{After: time.Hour}, {After: time.Minute}} }, "reminders.steps[1].after: must be later"},
		{"no storefront", func(c *Config) { c.Storefronts = nil }, "storefronts: at least one storefront is required"},
		{"storefront id", func(c *Config) { c.Storefronts[0].ID = "Pink Shop" }, "storefronts[0].id: must be 1-64 of a-z 0-9"},
		{"basket url", func(c *Config) { c.Storefronts[0].BasketURL = "https://pink.example/basket" }, "storefronts[0].basket_url: must contain {basket_id}"},
		{"short api key", func(c *Config) { c.Storefronts[0].APIKey = "abc" }, "storefronts[0].api_key: must be at least 16 characters"},
		{"postal", func(c *Config) { c.Storefronts[0].PostalAddress = "" }, "storefronts[0].postal_address: is required"},
		{"from", func(c *Config) { c.Storefronts[0].From = "nobody" }, "storefronts[0].from: must be an address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			c.Storefronts = append([]Storefront(nil), base.Storefronts...)
			tc.mutate(&c)
			assert.ErrorContains(t, c.Validate(), tc.want)
		})
	}
}

func TestLoopbackMayUseHTTP(t *testing.T) {
	c, err := Load(writeConfig(t, sample))
	require.NoError(t, err)
	c.Web.PublicURL = "http://127.0.0.1:8080"
	assert.NoError(t, c.Validate())
}

// The global policy with its defaults, a storefront's overrides of some
// keys, currencies in upper case whatever viper does to map keys, and the
// environment for policy keys.
func TestPolicyDefaultsOverridesAndEnvironment(t *testing.T) {
	t.Setenv("BASKETASSIST_POLICY_MAX_AGE", "96h")
	c, err := Load(writeConfig(t, sample+`  - {id: "blue", name: "Blue", from: "Blue <hi@blue.example>", api_key: "blue-api-key-0123456789",
     basket_url: "https://blue.example/b/{basket_id}", postal_address: "2 Street", timezone: "Asia/Kolkata",
     policy: {consent: soft_opt_in, quiet_hours: {start: "22:00", end: "07:00"}, dry_run: true, max_age: 48h}}
policy:
  min_value: {GBP: 1000}
  frequency_cap: {max: 2, per: 12h}
`))
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	pink := c.PolicyFor(c.Storefronts[0])
	assert.Equal(t, policy.Policy{Consent: "required", FrequencyCap: policy.Cap{Max: 2, Per: 12 * time.Hour},
		QuietHours: policy.Hours{Start: "21:00", End: "08:00"}, MaxAge: 96 * time.Hour,
		MinValue: map[string]int64{"GBP": 1000}}, pink)
	blue := c.PolicyFor(c.Storefronts[1])
	assert.Equal(t, policy.Policy{Consent: "soft_opt_in", FrequencyCap: policy.Cap{Max: 2, Per: 12 * time.Hour},
		QuietHours: policy.Hours{Start: "22:00", End: "07:00"}, MaxAge: 48 * time.Hour,
		MinValue: map[string]int64{"GBP": 1000}, DryRun: true}, blue)
	assert.Equal(t, "Asia/Kolkata", c.Storefronts[1].Timezone)

	c.Storefronts[1].Policy.QuietHours = &policy.Hours{Start: "25:00", End: "07:00"}
	c.Policy.Consent = "maybe"
	err = c.Validate()
	assert.ErrorContains(t, err, `policy.consent: must be required or soft_opt_in, got "maybe"`)
	assert.ErrorContains(t, err, `storefronts[1].policy.quiet_hours.start: must be HH:MM`)
}
