package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/config"
	"github.com/basketassist/basketassist/policy"
)

// startEmbedded runs serve as with no config at all (embedded Redis, outbox
// in a temporary folder, demo storefront) with the given reminder steps.
func startEmbedded(t *testing.T, steps ...time.Duration) (*Main, config.Config) {
	t.Helper()
	cfg, err := config.Load("")
	require.NoError(t, err)
	cfg.Outbox.Dir = t.TempDir()
	cfg.Worker.PollInterval = 100 * time.Millisecond
	_ = applyDevDefaults(&cfg, "")
	cfg.Reminders.Steps = nil
	for _, d := range steps {
		cfg.Reminders.Steps = append(cfg.Reminders.Steps, config.Step{After: d})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg.Web.PublicURL = "http://" + ln.Addr().String()
	require.NoError(t, cfg.Validate())
	m := &Main{Config: cfg, Worker: true, Web: true, Listener: ln}
	require.NoError(t, m.Run(context.Background()))
	t.Cleanup(func() { _ = m.Close() })
	return m, cfg
}

// TestEmbeddedModeRunsTheCoreFlow runs serve with no Redis and no SMTP
// configured: miniredis inside, emails as .eml files, and the demo storefront.
func TestEmbeddedModeRunsTheCoreFlow(t *testing.T) {
	t.Parallel()
	m, cfg := startEmbedded(t, time.Second)
	var banner bytes.Buffer
	printDevBanner(&banner, cfg, devDefaults{adminToken: true, tour: true})
	assert.Contains(t, banner.String(), "BASKETASSIST_REDIS_ADDR")
	assert.Contains(t, banner.String(), "BASKETASSIST_SMTP_HOST")
	client := &basket.Client{BaseURL: cfg.Web.PublicURL, APIKey: demoAPIKey}

	send := func(id, basketID string) {
		_, err := client.Send(context.Background(), basket.Event{ID: id, Type: basket.Updated, Storefront: demoStorefront,
			BasketID: basketID, OccurredAt: time.Now().UTC(),
			Customer: &basket.Customer{Email: "lea@example.com", Consent: basket.Consent{BasketAssistance: true}},
			Basket:   &basket.Contents{Currency: "EUR", Items: []basket.Item{{SKU: "S", Name: "Linen shirt", Quantity: 1, UnitPrice: 6900}}}})
		require.NoError(t, err)
	}
	emails := func() []string {
		files, _ := filepath.Glob(filepath.Join(cfg.Outbox.Dir, "*.eml"))
		return files
	}
	send("e1", "b1")
	require.Eventually(t, func() bool { return len(emails()) == 1 }, 15*time.Second, 20*time.Millisecond)
	raw, err := os.ReadFile(emails()[0])
	require.NoError(t, err)
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	require.NoError(t, err)
	assert.Equal(t, "List-Unsubscribe=One-Click", msg.Header.Get("List-Unsubscribe-Post"))
	unsub := strings.Trim(msg.Header.Get("List-Unsubscribe"), "<>")
	resp, err := http.Post(unsub, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// /outbox lists it, behind the admin token outside demo mode.
	resp, err = http.Get(cfg.Web.PublicURL + "/outbox")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	list := getWithToken(t, cfg.Web.PublicURL+"/outbox", cfg.Web.AdminToken)
	name := filepath.Base(emails()[0])
	assert.Contains(t, list, `<a href="/outbox/`+name+`">Can we help with your basket at Demo Shirts?</a>`)
	view := getWithToken(t, cfg.Web.PublicURL+"/outbox/"+name, cfg.Web.AdminToken)
	assert.Contains(t, view, "List-Unsubscribe-Post")
	assert.Contains(t, view, "Linen shirt")
	assert.Contains(t, getWithToken(t, cfg.Web.PublicURL+"/outbox/"+name+"/html", cfg.Web.AdminToken), "Return to your basket")
	// The email's page frames its HTML part: this origin may frame it, no other.
	req, err := http.NewRequest(http.MethodGet, cfg.Web.PublicURL+"/outbox/"+name+"/html", nil)
	require.NoError(t, err)
	req.SetBasicAuth("ops", cfg.Web.AdminToken)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "SAMEORIGIN", resp.Header.Get("X-Frame-Options"))
	assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'self'")

	blocked, _, err := m.core.suppressions.Check(context.Background(), m.core.keys.Recipient("lea@example.com"), demoStorefront, "basket_assistance")
	require.NoError(t, err)
	assert.True(t, blocked, "the unsubscribe landed in the embedded Redis")
}

func getWithToken(t *testing.T, url, token string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.SetBasicAuth("ops", token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	return string(b)
}

func TestHealthcheckCommand(t *testing.T) {
	t.Parallel()
	b := setup(t, realRedis)
	_, _, err := runCLI(t, "", "healthcheck", "--url", b.baseURL+"/healthz")
	assert.NoError(t, err)
	_, _, err = runCLI(t, "", "healthcheck", "--url", b.baseURL+"/nothing")
	assert.ErrorContains(t, err, "answered 404")
}

// The banner shows only what dev mode made up: a configured admin token is
// a secret, and the tour's relaxed policy is not in force with a config file.
func TestDevBannerNeverPrintsAConfiguredToken(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load("")
	require.NoError(t, err)
	made := applyDevDefaults(&cfg, "")
	var banner bytes.Buffer
	printDevBanner(&banner, cfg, made)
	assert.Contains(t, banner.String(), cfg.Web.AdminToken, "a token made up for this run is how the newcomer logs in")
	assert.Contains(t, banner.String(), "off in dev mode")
	cfg.Policy.QuietHours = policy.Default().QuietHours // as demo does
	banner.Reset()
	printDevBanner(&banner, cfg, made)
	assert.NotContains(t, banner.String(), "off in dev mode", "only what is true of this run")

	cfg, err = config.Load("")
	require.NoError(t, err)
	cfg.Redis.Addr, cfg.Web.AdminToken = "127.0.0.1:6379", "configured-secret-0123456789" // a real Redis, no SMTP: still dev mode
	made = applyDevDefaults(&cfg, "basketassist.yaml")
	banner.Reset()
	printDevBanner(&banner, cfg, made)
	assert.Contains(t, banner.String(), "BASKETASSIST_SMTP_HOST")
	assert.NotContains(t, banner.String(), "configured-secret-0123456789")
	assert.Contains(t, banner.String(), "password: web.admin_token from the config")
	assert.NotContains(t, banner.String(), "off in dev mode", "a config file's policy is its own")
}

// web or worker alone on the embedded Redis could never meet the other half.
func TestWebOrWorkerAloneNeedsARealRedis(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"web", "worker"} {
		var stdout, stderr, msg bytes.Buffer
		err := run(context.Background(), []string{cmd}, strings.NewReader(""), &stdout, &stderr)
		assert.Equal(t, 1, exitCode(err, &msg), cmd)
		assert.Contains(t, msg.String(), cmd+": redis.addr is empty", cmd)
		assert.Contains(t, msg.String(), "run serve, or set redis.addr", cmd)
		assert.NotContains(t, stderr.String(), "dev mode", "refused before anything starts")
	}
}
