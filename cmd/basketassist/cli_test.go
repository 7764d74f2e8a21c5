package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/config"
	"github.com/basketassist/basketassist/internal/smtptest"
	"github.com/basketassist/basketassist/worker"
)

// writeYAML writes cfg as the YAML a user would write.
func writeYAML(t *testing.T, cfg config.Config) string {
	t.Helper()
	sf := cfg.Storefronts[0]
	y := fmt.Sprintf(`redis: {addr: %q, db: %d}
smtp: {host: %q, port: %d}
secrets: {key: %q}
web: {listen: "127.0.0.1:0", admin_token: %q}
storefronts:
  - {id: %q, name: %q, from: %q, api_key: %q, basket_url: %q, postal_address: %q}
`, cfg.Redis.Addr, cfg.Redis.DB, cfg.SMTP.Host, cfg.SMTP.Port, cfg.Secrets.Key, cfg.Web.AdminToken,
		sf.ID, sf.Name, sf.From, sf.APIKey, sf.BasketURL, sf.PostalAddress)
	p := filepath.Join(t.TempDir(), "basketassist.yaml")
	require.NoError(t, os.WriteFile(p, []byte(y), 0o600))
	return p
}

func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestEmitQueuesValidLinesAndReportsBadOnes(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, smtptest.Start(t))
	path := writeYAML(t, cfg)
	now := time.Now().UTC().Format(time.RFC3339)
	lines := strings.Join([]string{
		`{"id":"e1","type":"basket.updated","storefront":"pink","basket_id":"b1","occurred_at":"` + now + `","basket":{"currency":"GBP","items":[]}}`,
		`{"id":"e2","type":"basket.exploded","storefront":"pink","basket_id":"b2","occurred_at":"` + now + `"}`,
		``,
		`{"id":"e3","type":"order.completed","storefront":"pink","basket_id":"b1","occurred_at":"` + now + `"}`,
		`not json`,
	}, "\n")
	out, errOut, err := runCLI(t, lines, "--config", path, "emit", "-")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "2 invalid events were not queued")
	assert.Contains(t, errOut, "line 2: type: unknown type")
	assert.Contains(t, errOut, "line 5: event: malformed JSON")
	assert.Contains(t, out, "queued 2 events")

	rdb := redis.NewClient(&redis.Options{Addr: cfg.Redis.Addr, DB: cfg.Redis.DB})
	defer rdb.Close()
	info, err := asynq.NewInspectorFromRedisClient(rdb).GetQueueInfo(worker.QueueEvents)
	require.NoError(t, err)
	assert.Equal(t, 1, info.Pending, "the valid events of one storefront travel as one task")
}

func TestEmitOneEventFile(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, smtptest.Start(t))
	path := writeYAML(t, cfg)
	file := filepath.Join(t.TempDir(), "event.json")
	require.NoError(t, os.WriteFile(file, []byte(`{
  "id": "e1", "type": "basket.updated", "storefront": "pink", "basket_id": "b1",
  "occurred_at": "`+time.Now().UTC().Format(time.RFC3339)+`",
  "basket": {"currency": "GBP", "items": []}
}`), 0o600))
	out, _, err := runCLI(t, "", "emit", "--config", path, file)
	require.NoError(t, err)
	assert.Contains(t, out, "queued 1 events")
}

func TestSuppressCLI(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, smtptest.Start(t))
	path := writeYAML(t, cfg)
	out, _, err := runCLI(t, "", "--config", path, "suppress", "check", "--email", "kim@example.com")
	require.NoError(t, err)
	assert.Contains(t, out, "suppressed=false")

	out, _, err = runCLI(t, "", "--config", path, "suppress", "add", "--email", "kim@example.com", "--storefront", "pink", "--reason", "complaint")
	require.NoError(t, err)
	assert.Contains(t, out, "added=true scope=basket_assistance for storefront pink")
	assert.NotContains(t, out, "kim@", "the CLI prints the hash, not the address")

	out, _, err = runCLI(t, "", "--config", path, "suppress", "check", "--email", "kim@example.com", "--storefront", "pink")
	require.NoError(t, err)
	assert.Contains(t, out, "suppressed=true")
	assert.Contains(t, out, "reason complaint")
	out, _, err = runCLI(t, "", "--config", path, "suppress", "check", "--email", "kim@example.com", "--storefront", "pink", "--scope", "newsletter")
	require.NoError(t, err)
	assert.Contains(t, out, "suppressed=false")

	_, _, err = runCLI(t, "", "--config", path, "suppress", "add", "--email", "kim@example.com", "--scope", "everything")
	assert.ErrorContains(t, err, `--scope: suppression: unknown scope "everything"`)
}

func TestBadConfigStopsBeforeStarting(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(p, []byte("redis: {addr: \"127.0.0.1:6379\"}\nsmtp: {host: \"127.0.0.1\", port: 0}\n"), 0o600))
	_, _, err := runCLI(t, "", "serve", "--config", p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "smtp.port: must be 1-65535, got 0")
	assert.Contains(t, err.Error(), "secrets.key: is required")
	assert.Contains(t, err.Error(), "storefronts: at least one storefront is required")

	_, _, err = runCLI(t, "", "--config", filepath.Join(t.TempDir(), "missing.yaml"), "serve")
	assert.ErrorContains(t, err, "missing.yaml")
	_, _, err = runCLI(t, "", "frobnicate")
	assert.ErrorContains(t, err, `unknown command "frobnicate"`)
}
