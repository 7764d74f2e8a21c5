package main

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/internal/smtptest"
)

var urlPattern = regexp.MustCompile(`https?://[^\s"'<>]+`)

// urlsOf returns every URL in a message: headers, text and HTML parts.
func urlsOf(t *testing.T, m smtptest.Message) []string {
	text, html := parts(t, m)
	head := string(m.Data[:strings.Index(string(m.Data), "\r\n\r\n")])
	seen := map[string]bool{}
	var out []string
	for _, u := range urlPattern.FindAllString(head+"\n"+text+"\n"+html, -1) {
		u = strings.TrimRight(u, ".,;>")
		u = strings.ReplaceAll(u, "&amp;", "&")
		if !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	return out
}

// suppressions reads the state a customer action could change.
func (b *bundle) suppressions(email string) map[string]any {
	return map[string]any{
		"basket_assistance": b.check(email, "basket_assistance")["suppressed"],
		"newsletter":        b.check(email, "newsletter")["suppressed"],
		"all":               b.check(email, "all")["suppressed"],
	}
}

func TestLinkScannerChangesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, realRedis)
	b.send(b.event(basket.Updated, "b_scan", "scan@example.com",
		basket.Item{SKU: "S", Name: "Oxford shirt", Quantity: 1, UnitPrice: 8900,
			URL: "https://pink.example/p/s", ImageURL: "https://pink.example/i/s.jpg"}))
	msg := b.smtp.WaitFor(t, 1, 15*time.Second)[0]
	before := b.suppressions("scan@example.com")
	keysBefore := b.rdb.Keys(context.Background(), "ba:sup:*").Val()

	// A security scanner fetches every link, without following redirects off
	// this machine. Links to the storefront itself are not ours to fetch here.
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	ours := 0
	for _, u := range urlsOf(t, msg) {
		if !strings.HasPrefix(u, b.baseURL) {
			require.True(t, strings.HasPrefix(u, "https://pink.example/"), "unexpected link %s", u)
			continue
		}
		ours++
		for range 2 {
			resp, err := client.Get(u)
			require.NoError(t, err, u)
			resp.Body.Close()
			assert.Contains(t, []int{http.StatusOK, http.StatusFound}, resp.StatusCode, u)
		}
	}
	assert.GreaterOrEqual(t, ours, 3, "unsubscribe, preferences and basket links were fetched")
	assert.Equal(t, before, b.suppressions("scan@example.com"), "no GET changed a suppression")
	assert.Equal(t, keysBefore, b.rdb.Keys(context.Background(), "ba:sup:*").Val())
}

func TestBrowserUnsubscribeAndPreferencesFromARealEmail(t *testing.T) {
	t.Parallel()
	b := setup(t, realRedis)
	const addr = "liv@example.com"
	b.send(b.event(basket.Updated, "b_liv", addr))
	msg := b.smtp.WaitFor(t, 1, 15*time.Second)[0]
	_, html := parts(t, msg)
	unsub := regexp.MustCompile(`href="(` + regexp.QuoteMeta(b.baseURL) + `/u/[A-Za-z0-9_-]+)"`).FindStringSubmatch(html)
	require.NotNil(t, unsub, "the HTML part has a visible unsubscribe link")

	p := browser(t, "")
	want := func(basketOff, newsletterOff bool) {
		t.Helper()
		got := b.suppressions(addr)
		assert.Equal(t, basketOff, got["basket_assistance"], "basket emails suppressed")
		assert.Equal(t, newsletterOff, got["newsletter"], "newsletters suppressed")
	}

	// The link opens a confirmation page, which changes nothing.
	p.do(chromedp.Navigate(unsub[1]))
	assert.Contains(t, p.text(), "Stop basket emails?")
	want(false, false)

	// Confirm.
	p.do(chromedp.Click(`button[name="confirm"]`))
	p.waitFor(`document.querySelector("button.secondary") !== null`)
	assert.Contains(t, p.text(), "You are unsubscribed from basket emails")
	assert.Contains(t, p.text(), "Newsletters you chose to receive are unaffected")
	want(true, false)

	// Preferences: newsletters off too.
	p.do(chromedp.Click(`a[href*="/p/"]`)) // relative: "../p/<token>"
	p.waitFor(`document.querySelector('input[name="newsletter"]') !== null`)
	assert.Contains(t, p.text(), "Your email preferences")
	p.do(chromedp.Click(`input[name="newsletter"]`), // it was checked: receiving
		chromedp.Click(`form button[type="submit"]`))
	p.waitFor(`document.querySelector("p.ok") !== null`)
	assert.Contains(t, p.text(), "Your choices are saved.")
	want(true, true)

	// Then basket emails back on; newsletters stay off.
	// Mark this page, so the wait below sees the next one.
	_, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`document.querySelector("p.ok").remove() || true`))
	require.NoError(t, err)
	p.do(chromedp.Click(`input[name="basket"]`), chromedp.Click(`form button[type="submit"]`))
	p.waitFor(`document.querySelector("p.ok") !== null`)
	want(false, true)
}
