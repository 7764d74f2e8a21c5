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

	"github.com/basketassist/basketassist/basket"
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
web: {listen: "127.0.0.1:0", ops_listen: "127.0.0.1:0", admin_token: %q}
policy: {quiet_hours: {start: "", end: ""}, frequency_cap: {max: 0}}
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
	assert.Contains(t, out, "queued 1 event\n")
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
	assert.ErrorContains(t, err, `--scope: unknown scope "everything"`)
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

func TestSuppressImportExportList(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, smtptest.Start(t))
	path := writeYAML(t, cfg)
	csvIn := strings.Join([]string{
		"email,scope,storefront,reason,origin,created_at",
		"ann@example.com,basket_assistance,pink,unsubscribed,recipient,2026-11-01T10:00:00Z",
		"bob@example.com,newsletter,,complaint,system,",
		"not-an-address,all,,manual,operator,",
		"cat@example.com,everything,,manual,operator,",
		"dan@example.com,all,blue,manual,operator,",
		"eve@example.com,all,,hard_bounce,system,2026-11-02T00:00:00Z",
		`"unterminated,all,,manual,operator,`,
	}, "\n") + "\n"
	out, errOut, err := runCLI(t, csvIn, "--config", path, "suppress", "import", "-")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "4 bad rows were skipped")
	assert.Contains(t, out, "imported 7 rows")
	assert.Contains(t, out, "3 added")
	assert.Contains(t, errOut, "line 4: email: is not a bare address")
	assert.Contains(t, errOut, `line 5: scope: unknown scope "everything"`)
	assert.Contains(t, errOut, `line 6: storefront: unknown storefront "blue"`)
	assert.Contains(t, errOut, "line 8: ")
	assert.NotContains(t, errOut, "not-an-address", "problems never echo the address")

	for email, want := range map[string]string{"ann@example.com": "suppressed=true", "eve@example.com": "suppressed=true", "cat@example.com": "suppressed=false"} {
		out, _, err := runCLI(t, "", "--config", path, "suppress", "check", "--email", email, "--storefront", "pink")
		require.NoError(t, err)
		assert.Contains(t, out, want, email)
	}

	out, errOut, err = runCLI(t, "", "--config", path, "suppress", "export")
	require.NoError(t, err)
	assert.Contains(t, errOut, "Addresses are not stored, so they cannot be exported")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, "header and three entries")
	assert.Equal(t, "email,scope,storefront,reason,origin,created_at", lines[0])
	assert.NotContains(t, out, "@example.com")
	assert.Contains(t, out, ",basket_assistance,pink,unsubscribed,recipient,2026-11-01T10:00:00Z")

	out, _, err = runCLI(t, "", "--config", path, "suppress", "export", "--scope", "all", "--storefront", "*")
	require.NoError(t, err)
	assert.Equal(t, 2, strings.Count(out, "\n"), "header and eve's global all")

	// An export re-imports into a deployment with the same key: nothing new.
	full, _, err := runCLI(t, "", "--config", path, "suppress", "export")
	require.NoError(t, err)
	out, _, err = runCLI(t, full, "--config", path, "suppress", "import")
	require.NoError(t, err)
	assert.Contains(t, out, "imported 3 rows")
	assert.Contains(t, out, "0 added, 3 already present, 0 bad")

	out, _, err = runCLI(t, "", "--config", path, "suppress", "list", "--storefront", "pink")
	require.NoError(t, err)
	assert.Contains(t, out, "1 entry (addresses are not stored")
	assert.Contains(t, out, "basket_assistance  pink")

	// A misspelt column would make every row global: the file is refused whole.
	out, _, err = runCLI(t, "email,scope,storefrnt\nfay@example.com,all,pink\n", "--config", path, "suppress", "import")
	assert.Empty(t, out, "no summary of an import that never began")
	assert.ErrorContains(t, err, `CSV header: unknown column "storefrnt" (want email,scope,storefront,reason,origin,created_at; nothing was imported)`)
	out, _, err = runCLI(t, "", "--config", path, "suppress", "check", "--email", "fay@example.com", "--scope", "all")
	require.NoError(t, err)
	assert.Contains(t, out, "suppressed=false")
}

func TestBrokenTemplateStopsStartUp(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, smtptest.Start(t))
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "pink", "fr"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pink", "fr", "step1.tmpl"),
		[]byte("{{define \"subject\"}}Bonjour{{end}}\n\n{{define \"intro\"}}{{if}}{{end}}\n"), 0o644))
	path := writeYAML(t, cfg)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(fmt.Sprintf("templates: {dir: %q}\n", dir))
	require.NoError(t, err)
	require.NoError(t, f.Close())

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	err = run(ctx, []string{"--config", path, "serve"}, strings.NewReader(""), &out, &errOut)
	require.Error(t, err, "serve must not start")
	assert.Contains(t, err.Error(), filepath.Join(dir, "pink/fr/step1.tmpl")+":3")
}

// --help, of the program or of a command, prints the usage to stdout (it
// is the answer, as "help" prints it) and succeeds; a mistake still fails,
// saying what it was, with the usage on stderr.
func TestHelpSucceedsAndMistakesFail(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"-h"}, {"serve", "--help"}, {"preview", "-h"}, {"help"}} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
		var msg bytes.Buffer
		assert.Zero(t, exitCode(err, &msg), "%v", args)
		assert.Empty(t, msg.String(), "%v", args)
		assert.Contains(t, stdout.String(), "Usage", "%v prints the usage to stdout", args)
		assert.Empty(t, stderr.String(), "%v", args)
	}
	for args, want := range map[string]string{
		"serve --no-such-flag": "basketassist: serve: flag provided but not defined: -no-such-flag (see --help)\n",
		"--bogus serve":        "basketassist: flag provided but not defined: -bogus (see --help)\n",
		"forget --email":       "basketassist: forget: flag needs an argument: -email (see --help)\n",
		"bogus":                "basketassist: unknown command \"bogus\" (see basketassist help)\n",
	} {
		var out, errOut, msg bytes.Buffer
		err := run(context.Background(), strings.Fields(args), strings.NewReader(""), &out, &errOut)
		assert.Equal(t, 1, exitCode(err, &msg))
		assert.Empty(t, out.String()+errOut.String(), "%s: a mistake is its one line, no usage", args)
		assert.Equal(t, want, msg.String())
	}
	for _, args := range [][]string{{"bogus"}, {"serve", "--no-such-flag"}, {}, {"serve", "extra"}, {"version", "extra"},
		{"emit", "a.json", "b.json"}, {"suppress", "list", "extra"}, {"explain", "--storefront", "pink", "b_1"}} {
		var stdout, stderr, msg bytes.Buffer
		err := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
		assert.Equal(t, 1, exitCode(err, &msg), "%v", args)
		assert.Contains(t, msg.String(), "basketassist: ", "%v names the mistake", args)
	}
	var stdout, stderr, msg bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"--version"}, strings.NewReader(""), &stdout, &stderr))
	assert.Equal(t, "basketassist "+version+"\n", stdout.String())
	err := run(context.Background(), []string{"suppress", "list", "extra"}, strings.NewReader(""), &stdout, &stderr)
	exitCode(err, &msg)
	assert.Equal(t, "basketassist: suppress list: unexpected argument \"extra\" (it takes flags only; see --help)\n", msg.String())
}

// A mistyped action is named before the config is read or Redis reached.
func TestSuppressNamesAnUnknownActionFirst(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"--config", filepath.Join(t.TempDir(), "missing.yaml"), "suppress", "delete", "--email", "a@b.example"},
		strings.NewReader(""), &stdout, &stderr)
	require.Error(t, err)
	assert.Equal(t, `suppress: unknown action "delete" (want add, remove, check, list, import or export)`, err.Error())
}

// explain says where a queued reminder is when it has no due time: an
// archived one (failed for good) is not "running now".
func TestExplainSaysAReminderIsArchived(t *testing.T) {
	t.Parallel()
	task := "remind:pink:b_42:s1:v3"
	var out bytes.Buffer
	printExplanation(&out, basket.Explanation{Storefront: "pink", BasketID: "b_42", Status: "active", Version: 3, Task: &task, TaskState: "archived"})
	assert.Contains(t, out.String(), "next reminder: remind:pink:b_42:s1:v3 archived after failing (asynqmon: email, Archived, Run tries it again)")
	out.Reset()
	printExplanation(&out, basket.Explanation{Storefront: "pink", BasketID: "b_42", Status: "active", Version: 3, Task: &task, TaskState: "active"})
	assert.Contains(t, out.String(), "next reminder: remind:pink:b_42:s1:v3 running now")
}
