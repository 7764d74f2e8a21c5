package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	stdhtml "html"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/bounce"
	"github.com/basketassist/basketassist/config"
	"github.com/basketassist/basketassist/internal/logtest"
	"github.com/basketassist/basketassist/internal/redisinfo"
	"github.com/basketassist/basketassist/internal/redistest"
	"github.com/basketassist/basketassist/internal/smtptest"
	"github.com/basketassist/basketassist/policy"
	"github.com/basketassist/basketassist/secrets"
	"github.com/basketassist/basketassist/worker"
)

const (
	testAPIKey     = "pink-test-api-key-0123456789"
	testAdminToken = "admin-test-token-0123456789"
)

// bundle is what setup gives each test: a running Main on its own Redis
// database, a recording SMTP server, and helpers.
type bundle struct {
	t       *testing.T
	cfg     config.Config
	main    *Main
	smtp    *smtptest.Server
	rdb     *redis.Client
	baseURL string
	client  *basket.Client
	seq     atomic.Int64
	logs    *logtest.Buffer // every log line of every Main the bundle ran, debug level
	hook    func(*Main)     // adjusts each Main before Run (setupMain)
}

func testConfig(t *testing.T, smtpSrv *smtptest.Server) config.Config {
	addr, db := redistest.DB(t)
	cfg, err := config.Load("")
	require.NoError(t, err)
	cfg.Redis.Addr, cfg.Redis.DB = addr, db
	cfg.SMTP.Host, cfg.SMTP.Port = smtpSrv.Host, smtpSrv.Port
	cfg.Secrets.Key = secrets.GenerateKey()
	cfg.Web.Listen, cfg.Web.OpsListen = "127.0.0.1:0", "127.0.0.1:0" // one port; TestTwoDoors splits them
	cfg.Web.AdminToken = testAdminToken
	cfg.Worker.PollInterval = 100 * time.Millisecond
	cfg.Worker.RetryBase = 100 * time.Millisecond
	cfg.Worker.ShutdownTimeout = 5 * time.Second
	cfg.Reminders.Steps = []config.Step{{After: time.Second}}
	// Tests send whenever they run and many emails to one address: the
	// policy tests turn quiet hours and the cap back on.
	cfg.Policy.QuietHours, cfg.Policy.FrequencyCap = policy.Hours{}, policy.Cap{}
	cfg.Storefronts = []config.Storefront{{ID: "pink", Name: "Pink Shirts", From: "Pink Shirts <hello@pink.example>",
		APIKey: testAPIKey, BasketURL: "https://pink.example/basket/{basket_id}",
		PostalAddress: "1 Jermyn Street, London SW1Y 6JB", DefaultLocale: "en-GB"}}
	return cfg
}

// The Redis backends the core flow runs on: a real redis-server, and the
// embedded in-process one that dev mode uses when redis.addr is empty.
const (
	realRedis     = "redis-server"
	embeddedRedis = "embedded"
)

// onBothBackends runs f as a parallel subtest per backend.
func onBothBackends(t *testing.T, f func(t *testing.T, backend string)) {
	t.Parallel()
	for _, backend := range []string{realRedis, embeddedRedis} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			f(t, backend)
		})
	}
}

func setup(t *testing.T, backend string, mutate ...func(*config.Config)) *bundle {
	t.Helper()
	return setupMain(t, backend, nil, mutate...)
}

// setupMain is setup with a hook that adjusts Main before each Run.
func setupMain(t *testing.T, backend string, hook func(*Main), mutate ...func(*config.Config)) *bundle {
	t.Helper()
	b := &bundle{t: t, smtp: smtptest.Start(t), logs: &logtest.Buffer{}, hook: hook}
	b.cfg = testConfig(t, b.smtp)
	if backend == embeddedRedis {
		b.cfg.Redis.Addr, b.cfg.Redis.DB = "", 0
	}
	for _, m := range mutate {
		m(&b.cfg)
	}
	b.start()
	if b.cfg.Redis.Real() {
		b.rdb = newRedisClient(b.cfg.Redis) // the service's own way there (an address, or Sentinel)
	} else {
		b.rdb = redis.NewClient(&redis.Options{Addr: b.main.core.cfg.Redis.Addr}) // the embedded server's address
	}
	t.Cleanup(func() { _ = b.rdb.Close() })
	return b
}

// start runs a fresh Main (serve: worker and web) on the bundle's config.
func (b *bundle) start() {
	b.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b.t, err)
	b.baseURL = "http://" + ln.Addr().String()
	b.cfg.Web.PublicURL = b.baseURL
	require.NoError(b.t, b.cfg.Validate())
	b.main = &Main{Config: b.cfg, Worker: true, Web: true, Listener: ln,
		Logger: slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if b.hook != nil {
		b.hook(b.main)
	}
	require.NoError(b.t, b.main.Run(context.Background()))
	m := b.main
	b.t.Cleanup(func() { _ = m.Close() })
	b.client = &basket.Client{BaseURL: b.baseURL, APIKey: testAPIKey}
}

func (b *bundle) event(typ basket.Type, basketID, email string, items ...basket.Item) basket.Event {
	e := basket.Event{ID: fmt.Sprintf("evt_%d", b.seq.Add(1)), Type: typ, Storefront: "pink", BasketID: basketID,
		OccurredAt: time.Now().UTC()}
	if email != "" {
		e.Customer = &basket.Customer{Email: email, Name: "Ann", Locale: "en-GB", Consent: basket.Consent{BasketAssistance: true}}
	}
	if typ == basket.Updated {
		if len(items) == 0 {
			items = []basket.Item{{SKU: "S-1", Name: "Oxford shirt", Quantity: 1, UnitPrice: 8900}}
		}
		e.Basket = &basket.Contents{Currency: "GBP", Items: items}
	}
	return e
}

func (b *bundle) send(events ...basket.Event) {
	b.t.Helper()
	n, err := b.client.Send(context.Background(), events...)
	require.NoError(b.t, err)
	require.Equal(b.t, len(events), n)
}

// settle waits until no task is pending, scheduled, running or waiting for
// a retry: after that nothing more can be sent.
func (b *bundle) settle(within time.Duration) {
	b.t.Helper()
	require.Eventually(b.t, func() bool {
		left, err := worker.Outstanding(context.Background(), b.rdb, b.cfg.Redis.Prefix)
		return err == nil && left == 0
	}, within, 20*time.Millisecond, "queues did not settle")
}

// scheduled lists the reminders waiting in the due index.
func (b *bundle) scheduled() []string {
	ids, _ := b.rdb.ZRange(context.Background(), basket.DueIndexKey(b.cfg.Redis.Prefix), 0, -1).Result()
	return ids
}

func (b *bundle) waitScheduled(id string) {
	b.t.Helper()
	require.Eventually(b.t, func() bool {
		for _, s := range b.scheduled() {
			if s == id {
				return true
			}
		}
		return false
	}, 5*time.Second, 10*time.Millisecond, "task %s never scheduled", id)
}

func (b *bundle) check(email, scope string) map[string]any {
	b.t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "scope": scope, "storefront": "pink"})
	req, _ := http.NewRequest(http.MethodPost, b.baseURL+"/v1/suppressions/check", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	require.Equal(b.t, http.StatusOK, resp.StatusCode)
	var out map[string]any
	require.NoError(b.t, json.NewDecoder(resp.Body).Decode(&out))
	return out
}

// parts returns the text and HTML parts of a multipart/alternative message.
func parts(t *testing.T, m smtptest.Message) (text, html string) {
	pm := m.Parsed(t)
	mt, params, err := mime.ParseMediaType(pm.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/alternative", mt)
	r := multipart.NewReader(pm.Body, params["boundary"])
	for {
		p, err := r.NextPart() // decodes quoted-printable
		if err == io.EOF {
			return text, html
		}
		require.NoError(t, err)
		b, _ := io.ReadAll(p)
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			text = string(b)
		} else if strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
			html = string(b)
		}
	}
}

func TestAbandonedBasketGetsExactlyOneEmailWithHeaders(t *testing.T) {
	onBothBackends(t, func(t *testing.T, backend string) {
		b := setup(t, backend)
		b.send(b.event(basket.Updated, "b_1", "ann@example.com",
			basket.Item{SKU: "S-1", Name: "Oxford shirt", Quantity: 2, UnitPrice: 8900}))

		msgs := b.smtp.WaitFor(t, 1, 15*time.Second)
		b.settle(10 * time.Second)
		require.Len(t, b.smtp.Messages(), 1, "exactly one email")
		m := msgs[0]
		assert.Equal(t, []string{"ann@example.com"}, m.To)
		pm := m.Parsed(t)
		unsub := smtptest.Header(pm, "List-Unsubscribe")
		assert.Regexp(t, `^<`+b.baseURL+`/u/[A-Za-z0-9_-]+>$`, unsub)
		assert.Equal(t, "List-Unsubscribe=One-Click", smtptest.Header(pm, "List-Unsubscribe-Post"))
		assert.Equal(t, "Pink Shirts basket assistance <basket-assistance.pink.pink.example>", smtptest.Header(pm, "List-Id"))
		assert.Regexp(t, `^<basket\.[0-9a-f]{24}\.s1\.[0-9a-f]{12}@pink\.example>$`, smtptest.Header(pm, "Message-Id"))
		assert.Equal(t, "<"+messageIDFor(t, b, "pink", "b_1", 1)+">", smtptest.Header(pm, "Message-Id"), "deterministic per (storefront, basket, step)")
		assert.Empty(t, pm.Header.Get("User-Agent"))
		assert.Empty(t, pm.Header.Get("X-Mailer"))
		assert.Contains(t, smtptest.Header(pm, "Subject"), "Can we help")

		text, html := parts(t, m)
		unsubURL := strings.Trim(unsub, "<>")
		// The HTML part is sent as ASCII ("£" as "&#163;"): compare what a
		// mail client shows.
		for name, part := range map[string]string{"text": text, "html": stdhtml.UnescapeString(html)} {
			assert.Contains(t, part, "Oxford shirt", name)
			assert.Contains(t, part, "£178.00", name+": total for 2 × £89.00")
			assert.Contains(t, part, unsubURL, name+": visible unsubscribe link")
			assert.Contains(t, part, "newsletters you chose to receive are unaffected", name)
			assert.Contains(t, part, "1 Jermyn Street", name+": postal address")
			assert.Contains(t, part, b.baseURL+"/r/", name+": link back to the basket")
		}
		assert.Equal(t, 1, b.smtp.Sessions(), "one SMTP connection")

		metrics := b.get(t, "/metrics", testAdminToken)
		assert.Contains(t, metrics, `basketassist_emails_sent_total{step="1",storefront="pink"} 1`)
		assert.Contains(t, metrics, `basketassist_events_total{outcome="applied",type="basket.updated"} 1`)
		assert.Contains(t, metrics, `asynq_queue_size{queue="email"} 0`, "asynq's queue metrics")
	})
}

func TestMonitoringNeedsTheAdminToken(t *testing.T) {
	onBothBackends(t, func(t *testing.T, backend string) {
		b := setup(t, backend, func(c *config.Config) { c.Reminders.Steps = []config.Step{{After: time.Hour}} })
		b.send(b.event(basket.Updated, "b_m", "mo@example.com"))
		b.waitScheduled("remind:pink:b_m:s1:v1")

		req, _ := http.NewRequest(http.MethodGet, b.baseURL+"/monitoring/", nil)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.Contains(t, resp.Header.Get("WWW-Authenticate"), "Basic", "a browser is asked for the token")

		assert.Contains(t, b.get(t, "/monitoring/", testAdminToken), "<!doctype html>")
		// The reminder waits in the due index until due; asynqmon shows the
		// queues and the event task that put it there.
		queues := b.get(t, "/monitoring/api/queues", testAdminToken)
		assert.Contains(t, queues, `"queue":"events"`)
		assert.NotContains(t, queues, "mo@example.com")
		assert.Contains(t, b.get(t, "/metrics", testAdminToken), "basketassist_reminders_waiting 1")

		// Explain reads the waiting reminder's due time from the index.
		ex, _ := b.explain("b_m")
		require.NotNil(t, ex.NextDue, "the waiting reminder's due time")
		assert.WithinDuration(t, time.Now().Add(time.Hour), *ex.NextDue, time.Minute)
	})
}

// get fetches path; with a token it authenticates as a browser would (basic auth).
func (b *bundle) get(t *testing.T, path, token string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.baseURL+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.SetBasicAuth("ops", token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, body)
	return string(body)
}

// messageIDFor mirrors the worker's scheme, to check it is deterministic.
func messageIDFor(t *testing.T, b *bundle, storefront, basketID string, step int) string {
	master, err := secrets.ParseKey(b.cfg.Secrets.Key)
	require.NoError(t, err)
	keys, err := secrets.New(master)
	require.NoError(t, err)
	return bounce.MessageID(keys, basket.SendKey(storefront, basketID), step, "pink.example")
}

func TestPurchaseBeforeDueSendsNothing(t *testing.T) {
	onBothBackends(t, func(t *testing.T, backend string) {
		b := setup(t, backend, func(c *config.Config) { c.Reminders.Steps = []config.Step{{After: 3 * time.Second}} })
		b.send(b.event(basket.Updated, "b_2", "bob@example.com"))
		b.waitScheduled("remind:pink:b_2:s1:v1")
		b.send(b.event(basket.OrderCompleted, "b_2", ""))
		b.settle(10 * time.Second)
		assert.Empty(t, b.scheduled(), "the purchase deleted the reminder")
		assert.Empty(t, b.smtp.Messages())
	})
}

func TestUpdateReschedules(t *testing.T) {
	onBothBackends(t, func(t *testing.T, backend string) {
		b := setup(t, backend, func(c *config.Config) { c.Reminders.Steps = []config.Step{{After: 2 * time.Second}} })
		b.send(b.event(basket.Updated, "b_3", "cy@example.com"))
		b.waitScheduled("remind:pink:b_3:s1:v1")
		b.send(b.event(basket.Updated, "b_3", "cy@example.com",
			basket.Item{SKU: "T-9", Name: "Silk tie", Quantity: 1, UnitPrice: 4500}))
		b.waitScheduled("remind:pink:b_3:s1:v2")
		assert.Equal(t, []string{"remind:pink:b_3:s1:v2"}, b.scheduled(), "the v1 task was deleted")

		msgs := b.smtp.WaitFor(t, 1, 15*time.Second)
		b.settle(10 * time.Second)
		require.Len(t, b.smtp.Messages(), 1)
		text, _ := parts(t, msgs[0])
		assert.Contains(t, text, "Silk tie", "the email shows the basket as updated")
		assert.NotContains(t, text, "Oxford shirt")
	})
}

func TestOneClickUnsubscribeStopsBasketEmailsOnly(t *testing.T) {
	onBothBackends(t, func(t *testing.T, backend string) {
		b := setup(t, backend)
		b.send(b.event(basket.Updated, "b_4", "dee@example.com"))
		msgs := b.smtp.WaitFor(t, 1, 15*time.Second)
		unsubURL := strings.Trim(smtptest.Header(msgs[0].Parsed(t), "List-Unsubscribe"), "<>")

		// RFC 8058: the mail client POSTs "List-Unsubscribe=One-Click", form-encoded.
		resp, err := http.Post(unsubURL, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Contains(t, string(body), "Newsletters you chose to receive are unaffected")

		assert.Equal(t, true, b.check("dee@example.com", "basket_assistance")["suppressed"])
		assert.Equal(t, false, b.check("dee@example.com", "newsletter")["suppressed"], "newsletters are untouched")

		b.send(b.event(basket.Updated, "b_5", "DEE@Example.COM")) // the same person, written differently
		b.settle(15 * time.Second)
		assert.Len(t, b.smtp.Messages(), 1, "no email after unsubscribing")
	})
}

func TestDuplicateEventSendsOneEmail(t *testing.T) {
	onBothBackends(t, func(t *testing.T, backend string) {
		b := setup(t, backend)
		e := b.event(basket.Updated, "b_6", "eve@example.com")
		b.send(e)
		b.send(e) // the storefront retried the request
		b.smtp.WaitFor(t, 1, 15*time.Second)
		b.settle(10 * time.Second)
		assert.Len(t, b.smtp.Messages(), 1)
	})
}

func TestTemporaryFailureIsRetriedOnce(t *testing.T) {
	onBothBackends(t, func(t *testing.T, backend string) {
		b := setup(t, backend)
		b.smtp.FailRecipients(451)
		b.send(b.event(basket.Updated, "b_7", "fay@example.com"))
		b.smtp.WaitFor(t, 1, 20*time.Second)
		b.settle(10 * time.Second)
		assert.Len(t, b.smtp.Messages(), 1, "one email after 451 then OK")
	})
}

func TestHardBounceSuppressesGlobally(t *testing.T) {
	onBothBackends(t, func(t *testing.T, backend string) {
		b := setup(t, backend)
		b.smtp.FailRecipients(550)
		b.send(b.event(basket.Updated, "b_8", "gone@example.com"))
		require.Eventually(t, func() bool {
			return b.check("gone@example.com", "basket_assistance")["suppressed"] == true
		}, 15*time.Second, 20*time.Millisecond)
		by := b.check("gone@example.com", "newsletter")["by"].(map[string]any)
		assert.Equal(t, "hard_bounce", by["reason"])
		assert.Equal(t, "all", by["scope"])
		assert.Equal(t, "system", by["origin"])
		// The counter moves once the entry is stored: just after it is visible.
		require.Eventually(t, func() bool {
			return strings.Contains(b.get(t, "/metrics", testAdminToken), `basketassist_suppression_changes_total{change="added",origin="system",reason="hard_bounce",scope="all"} 1`)
		}, 5*time.Second, 20*time.Millisecond)
		b.settle(10 * time.Second)
		assert.Empty(t, b.smtp.Messages())
	})
}

func TestWorkerRestartMidScheduleSendsOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, realRedis, func(c *config.Config) { c.Reminders.Steps = []config.Step{{After: 2 * time.Second}} })
	b.send(b.event(basket.Updated, "b_9", "hal@example.com"))
	b.waitScheduled("remind:pink:b_9:s1:v1")
	require.NoError(t, b.main.Close())
	b.start()
	b.smtp.WaitFor(t, 1, 15*time.Second)
	b.settle(10 * time.Second)
	assert.Len(t, b.smtp.Messages(), 1)
}

func TestNoPlaintextAddressInRedis(t *testing.T) {
	onBothBackends(t, func(t *testing.T, backend string) {
		b := setup(t, backend, func(c *config.Config) {
			c.Reminders.Steps = []config.Step{{After: time.Second}, {After: 2 * time.Second}}
		})
		const addr = "ivy.secret@example.com"
		b.send(b.event(basket.Updated, "b_10", addr))
		b.waitScheduled("remind:pink:b_10:s1:v1")
		assertNoAddress(t, b.rdb, addr) // while the event and reminder tasks exist

		msgs := b.smtp.WaitFor(t, 2, 15*time.Second)
		unsubURL := strings.Trim(smtptest.Header(msgs[0].Parsed(t), "List-Unsubscribe"), "<>")
		// "." and "@" are outside the token's base64url alphabet: these can only
		// appear if the address leaked, never by chance.
		for _, needle := range []string{"ivy.secret", "ivy.secret%40", "@example.com"} {
			assert.NotContains(t, unsubURL, needle, "no address in URLs")
		}
		resp, err := http.PostForm(unsubURL, url.Values{"List-Unsubscribe": {"One-Click"}})
		require.NoError(t, err)
		resp.Body.Close()
		b.settle(10 * time.Second)
		assertNoAddress(t, b.rdb, addr) // after sending and unsubscribing
	})
}

// assertNoAddress reads every key and value of the database, of every type,
// and fails if the address (or its local part) appears anywhere.
func assertNoAddress(t *testing.T, rdb *redis.Client, addr string) {
	t.Helper()
	ctx := context.Background()
	needles := [][]byte{[]byte(addr), []byte(strings.ToUpper(addr)), []byte(addr[:strings.IndexByte(addr, '@')])}
	var keys []string
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	require.NoError(t, iter.Err())
	require.NotEmpty(t, keys)
	for _, k := range keys {
		blobs, err := redisinfo.Values(ctx, rdb, k)
		require.NoError(t, err)
		blobs = append(blobs, k)
		for _, blob := range blobs {
			for _, n := range needles {
				assert.False(t, bytes.Contains([]byte(blob), n), "key %s holds %q", k, n)
			}
		}
	}
}

func TestShutdownLetsAnInFlightSendFinish(t *testing.T) {
	t.Parallel()
	b := setup(t, realRedis)
	waiting, release := b.smtp.HoldData()
	b.send(b.event(basket.Updated, "b_11", "joy@example.com"))
	select {
	case <-waiting: // the email is inside SMTP DATA now
	case <-time.After(15 * time.Second):
		t.Fatal("the reminder never reached SMTP DATA")
	}
	closed := make(chan error, 1)
	go func() { closed <- b.main.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a send was in flight", err)
	default:
	}
	release()
	require.NoError(t, <-closed)
	require.Len(t, b.smtp.Messages(), 1, "the in-flight send finished")

	b.start() // a restarted worker does not send it again
	b.settle(10 * time.Second)
	assert.Len(t, b.smtp.Messages(), 1)
}

// Every email worker is stuck inside SMTP DATA (a slow relay), and a
// purchase still gets applied at once: events have workers of their own.
func TestPurchaseIsAppliedWhileEveryEmailWorkerIsBusy(t *testing.T) {
	t.Parallel()
	b := setup(t, realRedis, func(c *config.Config) {
		c.Worker.Concurrency = 2
		c.SMTP.Connections = 2
		c.Reminders.Steps = []config.Step{{After: time.Second}}
	})
	waiting, release := b.smtp.HoldData()
	defer release()
	b.send(b.event(basket.Updated, "b_busy1", "ada@example.com"), b.event(basket.Updated, "b_busy2", "bea@example.com"))
	for range 2 {
		select {
		case <-waiting:
		case <-time.After(15 * time.Second):
			t.Fatal("the reminders never reached SMTP DATA")
		}
	}
	b.send(b.event(basket.Updated, "b_buy", "cy@example.com"))
	b.send(b.event(basket.OrderCompleted, "b_buy", ""))
	require.Eventually(t, func() bool {
		ex, status := b.explain("b_buy")
		return status == http.StatusOK && ex.Status == basket.Purchased
	}, 5*time.Second, 20*time.Millisecond, "the purchase waits for an email worker")
}
