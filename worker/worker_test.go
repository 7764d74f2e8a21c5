package worker

import (
	"context"
	"encoding/json"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/internal/redisinfo"
	"github.com/basketassist/basketassist/internal/redistest"
	"github.com/basketassist/basketassist/internal/smtptest"
	"github.com/basketassist/basketassist/mail"
	"github.com/basketassist/basketassist/secrets"
	"github.com/basketassist/basketassist/suppression"
	"github.com/basketassist/basketassist/templates"
)

type workerBundle struct {
	h     *Handlers
	rdb   *redis.Client
	keys  *secrets.Keys
	smtp  *smtptest.Server
	trips *atomic.Int64
	now   time.Time
}

// testHandOverLife is the bundle's hand-over life: its sender's 5 s timeout, no replicas.
var testHandOverLife = HandOverLife(5*time.Second, 0)

// setupWorker builds Handlers on rdb, sending to a real SMTP server.
func setupWorker(t *testing.T, rdb *redis.Client, steps ...time.Duration) *workerBundle {
	t.Helper()
	keys := secrets.Throwaway()
	renderer, err := templates.New(templates.Options{})
	require.NoError(t, err)
	smtpSrv := smtptest.Start(t)
	sender, err := mail.NewSMTPSender(mail.SMTPOptions{Host: smtpSrv.Host, Port: smtpSrv.Port, Connections: 2, Timeout: 5 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sender.Close() })
	trips := &atomic.Int64{}
	rdb.AddHook(tripCounter{trips})
	b := &workerBundle{rdb: rdb, keys: keys, smtp: smtpSrv, trips: trips, now: time.Now().UTC()}
	b.h = NewHandlers(Deps{Redis: rdb, Baskets: basket.NewStore(rdb, keys, basket.StoreOptions{Prefix: "ba:", Steps: steps,
		HandOverLife: testHandOverLife}),
		Suppressions: suppression.NewStore(rdb, "ba:", nil), Tokens: suppression.NewTokens(keys), Keys: keys,
		Renderer: renderer, Sender: sender},
		Options{PublicURL: "https://ba.example", Storefronts: map[string]basket.Storefront{
			"pink": {ID: "pink", Name: "Pink Shirts", From: "Pink Shirts <hello@pink.example>",
				BasketURL: "https://pink.example/b/{basket_id}", PostalAddress: "1 Jermyn St", DefaultLocale: "en-GB"}}})
	return b
}

// tripCounter counts client round trips: one per command, one per
// pipeline, not counting the set-up of a new connection (sends side by
// side may open one), which is no part of an operation's cost.
type tripCounter struct{ n *atomic.Int64 }

func connSetUp(cmds ...redis.Cmder) bool {
	for _, c := range cmds {
		if n := c.Name(); n != "hello" && n != "client" {
			return false
		}
	}
	return true
}

func (c tripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c tripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !connSetUp(cmd) {
			c.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (c tripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !connSetUp(cmds...) {
			c.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

func (b *workerBundle) applyTask(t *testing.T, basketID, eventID string, at time.Time) *asynq.Task {
	e := basket.Event{ID: eventID, Type: basket.Updated, Storefront: "pink", BasketID: basketID, OccurredAt: at,
		Customer: &basket.Customer{Email: "ann@example.com", Consent: basket.Consent{BasketAssistance: true}},
		Basket:   &basket.Contents{Currency: "GBP", Items: []basket.Item{{SKU: "S", Name: "Shirt", Quantity: 1, UnitPrice: 100}}}}
	s, err := basket.Seal(b.keys, e)
	require.NoError(t, err)
	payload, _ := json.Marshal(applyPayload{Storefront: "pink", Events: []basket.Sealed{s}})
	return asynq.NewTask(TypeApplyEvents, payload)
}

func reminderTask(basketID string, step int, version int64) *asynq.Task {
	payload, _ := json.Marshal(reminderPayload{Storefront: "pink", BasketID: basketID, Step: step, Version: version, Due: time.Now().Add(-time.Minute)})
	return asynq.NewTask(TypeSendReminder, payload)
}

// commandStats returns the server's call count per command, not counting
// INFO itself. Commands run inside Lua scripts are counted under their own
// names too, so this is the server's work, not the network round trips.
func commandStats(t *testing.T, rdb *redis.Client) map[string]int64 {
	all, err := redisinfo.Commands(context.Background(), rdb)
	require.NoError(t, err)
	stats := map[string]int64{}
	for name, c := range all {
		if name != "info" {
			stats[name] = c.Calls
		}
	}
	return stats
}

// cost is what one operation cost in Redis.
type cost struct {
	trips   int64            // client round trips (a pipeline or script is one)
	scripts int64            // EVALSHA/EVAL calls among them
	server  int64            // commands the server ran, including inside scripts
	by      map[string]int64 // server commands by name
}

// measure runs f and returns its Redis cost.
func (b *workerBundle) measure(t *testing.T, f func()) cost {
	before, tripsBefore := commandStats(t, b.rdb), b.trips.Load()
	f()
	after := commandStats(t, b.rdb)
	c := cost{trips: b.trips.Load() - tripsBefore - 1, by: map[string]int64{}} // -1: the second INFO
	for name, n := range after {
		if d := n - before[name]; d > 0 {
			c.by[name] = d
			c.server += d
			if name == "evalsha" || name == "eval" {
				c.scripts += d
			}
		}
	}
	return c
}

// TestRedisRoundTrips measures, on a private redis-server, the Redis cost of
// applying an event and of sending a reminder (steady state: scripts loaded,
// connections open). The figures are printed with -v and quoted in the README.
func TestRedisRoundTrips(t *testing.T) {
	rdb := redistest.Private(t)
	b := setupWorker(t, rdb, time.Hour, 24*time.Hour)
	ctx := context.Background()
	old := b.now.Add(-2 * time.Hour) // so step 1 is due at once

	// Warm up: load the scripts, open connections, register the queues.
	require.NoError(t, b.h.ApplyEvents(ctx, b.applyTask(t, "warm", "w1", old)))
	require.NoError(t, b.h.ApplyEvents(ctx, b.applyTask(t, "warm", "w2", old.Add(time.Second))))
	require.NoError(t, b.h.SendReminder(ctx, reminderTask("warm", 1, 2)))

	c := b.measure(t, func() { require.NoError(t, b.h.ApplyEvents(ctx, b.applyTask(t, "b1", "e1", old))) })
	t.Logf("apply the first event of a basket (schedules step 1): %d round trips (%d scripts), %d server commands %v", c.trips, c.scripts, c.server, c.by)
	assert.Equal(t, int64(1), c.trips, "the apply script puts the reminder in the due index")

	c = b.measure(t, func() { require.NoError(t, b.h.ApplyEvents(ctx, b.applyTask(t, "b1", "e2", old.Add(time.Second)))) })
	t.Logf("apply an update (deletes the old task, schedules the new): %d round trips (%d scripts), %d server commands %v", c.trips, c.scripts, c.server, c.by)
	assert.Equal(t, int64(1), c.trips, "the apply script swaps the old reminder for the new in the due index")

	c = b.measure(t, func() { require.NoError(t, b.h.SendReminder(ctx, reminderTask("b1", 1, 2))) })
	t.Logf("send a reminder and schedule the next step: %d round trips (%d scripts), %d server commands %v", c.trips, c.scripts, c.server, c.by)
	assert.Equal(t, int64(4), c.trips, "claim script + history, order and suppression reads in one pipeline + hand-over script + finish script (next step into the due index) with the decision record")
	require.Len(t, b.smtp.Messages(), 2, "the warm-up and the measured reminder were sent")

	batchOf10 := func(prefix string) *asynq.Task {
		var batch remindersPayload
		for i := range 10 {
			id := prefix + strconv.Itoa(i)
			require.NoError(t, b.h.ApplyEvents(ctx, b.applyTask(t, id, id, old)))
			batch.Reminders = append(batch.Reminders, reminderPayload{Storefront: "pink", BasketID: id, Step: 1, Version: 1, Due: old})
		}
		payload, _ := json.Marshal(batch)
		return asynq.NewTask(TypeSendReminders, payload)
	}
	require.NoError(t, b.h.SendReminders(ctx, batchOf10("w"))) // warm-up: the connections sends side by side need
	task := batchOf10("n")
	c = b.measure(t, func() { require.NoError(t, b.h.SendReminders(ctx, task)) })
	t.Logf("send a batch of 10 reminders: %d round trips (%d scripts), %d server commands %v", c.trips, c.scripts, c.server, c.by)
	assert.Equal(t, int64(1+1+10+1), c.trips, "the claims in one pipeline, the reads in another, a hand-over per reminder, the finishes in one pipeline")
	require.Len(t, b.smtp.Messages(), 22)

	producer := NewProducer(asynq.NewClientFromRedisClient(rdb), b.keys, ProducerOptions{})
	events := make([]basket.Event, 500)
	for i := range events {
		events[i] = basket.Event{ID: "i" + strconv.Itoa(i), Type: basket.Updated, Storefront: "pink", BasketID: "b" + strconv.Itoa(i),
			OccurredAt: b.now, Customer: &basket.Customer{Email: "ann@example.com"}, Basket: &basket.Contents{Currency: "GBP"}}
	}
	require.NoError(t, producer.Submit(ctx, events[:1])) // warm-up: asynq registers the queue once per process
	c = b.measure(t, func() { require.NoError(t, producer.Submit(ctx, events)) })
	t.Logf("ingest a request of 500 events: %d round trips (%d scripts), %d server commands %v", c.trips, c.scripts, c.server, c.by)
	assert.Equal(t, int64(1), c.trips, "one task per request")

	sealed := make([]basket.Sealed, len(events))
	for i, e := range events {
		e.ID, e.BasketID, e.OccurredAt = "m"+strconv.Itoa(i), "m"+strconv.Itoa(i), old
		e.Customer.Consent = basket.Consent{BasketAssistance: true}
		var err error
		sealed[i], err = basket.Seal(b.keys, e)
		require.NoError(t, err)
	}
	events500, _ := json.Marshal(applyPayload{Storefront: "pink", Events: sealed})
	c = b.measure(t, func() { require.NoError(t, b.h.ApplyEvents(ctx, asynq.NewTask(TypeApplyEvents, events500))) })
	t.Logf("apply a task of 500 events: %d round trips (%d scripts), %d server commands", c.trips, c.scripts, c.server)
	assert.Equal(t, int64(1), c.trips, "the whole batch in one pipeline")
	assert.Equal(t, int64(500), c.by["zadd"], "every basket's reminder joined the due index")

	require.NoError(t, b.h.SendReminder(ctx, reminderTask("b1", 1, 1))) // warm-up: the record script's first use loads it
	c = b.measure(t, func() { require.NoError(t, b.h.SendReminder(ctx, reminderTask("b1", 1, 1))) })
	t.Logf("drop a superseded reminder: %d round trips (%d scripts), %d server commands %v", c.trips, c.scripts, c.server, c.by)
	assert.Equal(t, int64(2), c.trips, "the claim script decides, and the decision is recorded")
	assert.Len(t, b.smtp.Messages(), 22)
}

func TestSuppressedRecipientIsDroppedAtSendTime(t *testing.T) {
	t.Parallel()
	b := setupWorker(t, redistest.Client(t), time.Hour)
	ctx := context.Background()
	require.NoError(t, b.h.ApplyEvents(ctx, b.applyTask(t, "b1", "e1", b.now.Add(-2*time.Hour))))
	_, err := b.h.Suppressions.Add(ctx, suppression.Entry{Recipient: b.keys.Recipient("ann@example.com"),
		Scope: suppression.All, Reason: suppression.Complaint, Origin: suppression.System})
	require.NoError(t, err)
	require.NoError(t, b.h.SendReminder(ctx, reminderTask("b1", 1, 1)))
	assert.Empty(t, b.smtp.Messages())
	// The step is over: a retry of the same task does not send either.
	require.NoError(t, b.h.SendReminder(ctx, reminderTask("b1", 1, 1)))
	assert.Empty(t, b.smtp.Messages())
}

func TestBackoffDoublesUpToTheCap(t *testing.T) {
	t.Parallel()
	f := Backoff(time.Second, 5*time.Second)
	var got []time.Duration
	for n := range 5 {
		got = append(got, f(n, nil, nil))
	}
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}, got)
}
