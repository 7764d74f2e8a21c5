package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/basketassist/basketassist/config"
	"github.com/basketassist/basketassist/policy"
	"github.com/basketassist/basketassist/secrets"
)

// The demo storefront that dev mode adds when none is configured.
const (
	demoStorefront = "demo"
	demoAPIKey     = "demo-api-key-0123456789"
)

// devDefaults says what applyDevDefaults filled in, for the banner: it
// prints only what dev mode made up, never a secret from the config.
type devDefaults struct {
	adminToken bool // web.admin_token was generated for this run
	tour       bool // no config file: short delays, no quiet hours or cap, one port
}

// applyDevDefaults fills in what dev mode (embedded Redis) needs and is not
// configured: a throwaway secret key, a demo storefront and, when there is
// no config file at all, reminder delays short enough to watch.
func applyDevDefaults(cfg *config.Config, configPath string) devDefaults {
	var did devDefaults
	if cfg.Redis.Real() {
		return did
	}
	if cfg.Secrets.Key == "" {
		cfg.Secrets.Key = secrets.GenerateKey() // in-memory data dies with the process, so may the key
	}
	if cfg.Web.AdminToken == "" {
		cfg.Web.AdminToken = "dev-" + secrets.GenerateKey()[:20] // printed by the banner; valid for this run only
		cfg.Web.AdminToken = strings.NewReplacer("+", "x", "/", "y").Replace(cfg.Web.AdminToken)
		did.adminToken = true
	}
	if len(cfg.Storefronts) == 0 {
		cfg.Storefronts = []config.Storefront{{ID: demoStorefront, Name: "Demo Shirts", From: "Demo Shirts <hello@shop.example>",
			APIKey: demoAPIKey, BasketURL: "https://shop.example/basket/{basket_id}",
			PostalAddress: "1 Example Street, London EC1A 1AA", DefaultLocale: "en-GB"}}
	}
	if configPath == "" {
		cfg.Reminders.Steps = []config.Step{{After: 10 * time.Second}, {After: 30 * time.Second}}
		// A first try at any hour, with one address for every basket, should
		// see its emails: quiet hours and the cap are for configured runs.
		cfg.Policy.QuietHours, cfg.Policy.FrequencyCap = policy.Hours{}, policy.Cap{}
		cfg.Web.OpsListen = cfg.Web.Listen // one port on loopback for the tour
		did.tour = true
	}
	return did
}

// soloOnEmbeddedRedis refuses web or worker alone on the embedded Redis:
// it lives inside this one process, so events taken by web would never
// reach a worker, and a worker would never see an event.
func soloOnEmbeddedRedis(cmd string, cfg config.Config) error {
	if cfg.Redis.Real() || cmd == "serve" {
		return nil
	}
	return fmt.Errorf("%s: redis.addr is empty, and the embedded Redis lives inside this process only, so %s alone could never %s: run serve, or set redis.addr (BASKETASSIST_REDIS_ADDR) for every process",
		cmd, cmd, map[string]string{"web": "hand its events to a worker", "worker": "receive an event"}[cmd])
}

// startEmbeddedRedis runs an in-process Redis on a loopback port. TTLs follow
// the wall clock (ClockTTL), so retention works as with a real server.
func startEmbeddedRedis() (*miniredis.Miniredis, error) {
	m := miniredis.NewMiniRedis()
	m.ClockTTL(true)
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("start embedded redis: %w", err)
	}
	return m, nil
}

// printDevBanner tells a newcomer what dev mode is and how to leave it.
func printDevBanner(w io.Writer, cfg config.Config, did devDefaults) {
	if !cfg.Embedded() {
		return
	}
	fmt.Fprintln(w, "basketassist: dev mode.")
	if !cfg.Redis.Real() {
		fmt.Fprintln(w, "  Redis: embedded and in memory only; everything is lost on exit. Use a real one: BASKETASSIST_REDIS_ADDR=host:6379 (and BASKETASSIST_SECRETS_KEY=$(openssl rand -base64 32)).")
	}
	if cfg.SMTP.Host == "" {
		fmt.Fprintf(w, "  Email: written as .eml files to %s. Use a real SMTP server: BASKETASSIST_SMTP_HOST=host BASKETASSIST_SMTP_PORT=587.\n", cfg.Outbox.Dir)
	}
	for _, s := range cfg.Storefronts {
		if s.ID == demoStorefront && s.APIKey == demoAPIKey {
			fmt.Fprintf(w, "  Storefront %q, API key %q (dev only).\n", s.ID, s.APIKey)
		}
	}
	if did.tour {
		var steps []string
		for _, s := range cfg.Reminders.Steps {
			steps = append(steps, s.After.String())
		}
		fmt.Fprintf(w, "  Reminders after %v of basket inactivity. Configure everything with --config FILE (see README).\n", steps)
		if p := cfg.Policy; p.QuietHours.Start == p.QuietHours.End && p.FrequencyCap.Max == 0 { // demo turns quiet hours back on
			fmt.Fprintln(w, "  Policy: quiet hours and the frequency cap are off in dev mode; with a config file they are on (see README, Sending policy).")
		}
	}
	base := strings.TrimRight(cfg.Web.PublicURL, "/")
	if cfg.Web.OpsListen != cfg.Web.Listen {
		base = "http://" + cfg.Web.OpsListen
	}
	password := "web.admin_token from the config" // a configured secret is never printed
	if did.adminToken {
		password = fmt.Sprintf("the admin token %q, made up for this run", cfg.Web.AdminToken)
	}
	fmt.Fprintf(w, "  Queues: %s/monitoring/  Metrics: %s/metrics  (user: any, password: %s)\n", base, base, password)
}
