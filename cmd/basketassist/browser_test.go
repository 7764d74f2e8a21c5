package main

import (
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/basket"
)

// chromium returns Debian's Chromium, which scripts/test.sh installs.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium not found: install the Debian package chromium (scripts/test.sh does)")
	return ""
}

// page is a headless Chromium tab with the two questions tests ask of it.
type page struct {
	t   *testing.T
	ctx context.Context
}

// text returns the page's visible text.
func (p page) text() string {
	p.t.Helper()
	body, err := chromedp.Run(p.ctx, chromedp.Text("body"))
	require.NoError(p.t, err)
	return body
}

// waitFor polls a JavaScript condition in the page until it holds. An
// evaluation cut short by the navigation it waits for counts as "not yet".
func (p page) waitFor(js string) {
	p.t.Helper()
	require.Eventually(p.t, func() bool {
		ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](js))
		return err == nil && ok
	}, 30*time.Second, 50*time.Millisecond, "waiting for %s", js)
}

// do runs browser actions.
func (p page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	require.NoError(p.t, chromedp.Do(p.ctx, actions...))
}

// browser starts headless Chromium. With an admin token it sends the
// operator's credentials (basic auth) with every request, as a logged-in
// browser does; with "" it is a customer's browser.
func browser(t *testing.T, adminToken string) page {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	require.NoError(t, chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil || adminToken == "" {
			return err
		}
		auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("ops:"+adminToken))
		_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": auth}})
		return err
	})))
	return page{t: t, ctx: ctx}
}

func TestBrowserOpensMonitoringAndOutbox(t *testing.T) {
	t.Parallel()
	_, cfg := startEmbedded(t, time.Second, time.Hour)
	_, err := (&basket.Client{BaseURL: cfg.Web.PublicURL, APIKey: demoAPIKey}).Send(context.Background(), basket.Event{
		ID: "e1", Type: basket.Updated, Storefront: demoStorefront, BasketID: "b_browser", OccurredAt: time.Now().UTC(),
		Customer: &basket.Customer{Email: "nia@example.com", Consent: basket.Consent{BasketAssistance: true}},
		Basket:   &basket.Contents{Currency: "GBP", Items: []basket.Item{{SKU: "S", Name: "Oxford shirt", Quantity: 1, UnitPrice: 8900}}}})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		files, _ := filepath.Glob(filepath.Join(cfg.Outbox.Dir, "*.eml"))
		return len(files) == 1
	}, 15*time.Second, 20*time.Millisecond)

	p := browser(t, cfg.Web.AdminToken)
	p.do(chromedp.Navigate(cfg.Web.PublicURL + "/outbox"))
	assert.Contains(t, p.text(), "Can we help with your basket at Demo Shirts?")
	p.do(chromedp.Click(`a[href^="/outbox/"]`))
	p.waitFor(`document.querySelector("iframe") !== null`)
	email := p.text()
	assert.Contains(t, email, "List-Unsubscribe-Post")
	assert.Contains(t, email, "Oxford shirt")

	p.do(chromedp.Navigate(cfg.Web.PublicURL + "/monitoring/"))
	p.waitFor(`document.body.innerText.includes("events") && document.body.innerText.includes("email")`)
	assert.Contains(t, p.text(), "Queues")
	// Step 2 waits in the due index (basketassist explain shows it);
	// asynqmon shows the email queue that sent step 1.
	p.do(chromedp.Navigate(cfg.Web.PublicURL + "/monitoring/queues/email"))
	p.waitFor(`document.body.innerText.includes("email") && document.body.innerText.includes("Processed")`)
	assert.NotContains(t, p.text(), "nia@example.com")

	if dir := os.Getenv("BASKETASSIST_SCREENSHOTS"); dir != "" {
		png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "monitoring.png"), png, 0o644))
	}
}
