package worker

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/internal/logtest"
	"github.com/basketassist/basketassist/internal/redistest"
	"github.com/basketassist/basketassist/internal/smtptest"
	"github.com/basketassist/basketassist/mail"
	"github.com/basketassist/basketassist/policy"
	"github.com/basketassist/basketassist/suppression"
)

// due applies one event for basketID, old enough that its step 1 is due.
func (b *workerBundle) due(t *testing.T, basketID string) {
	t.Helper()
	require.NoError(t, b.h.ApplyEvents(context.Background(), b.applyTask(t, basketID, basketID+"-e1", b.now.Add(-2*time.Hour))))
}

// claim returns basketID's stored step-1 claim ("" for none).
func (b *workerBundle) claim(t *testing.T, basketID string) string {
	t.Helper()
	v, err := b.rdb.Get(context.Background(), "ba:{pink:"+basketID+"}:step:1").Result()
	if errors.Is(err, redis.Nil) {
		return ""
	}
	require.NoError(t, err)
	return v
}

func (b *workerBundle) suppressed(t *testing.T) bool {
	t.Helper()
	blocked, _, err := b.h.Suppressions.Check(context.Background(), b.keys.Recipient("ann@example.com"), "pink", suppression.BasketAssistance)
	require.NoError(t, err)
	return blocked
}

// beforeSend runs hook as the message waits for its connection, then sends.
type beforeSend struct {
	next Sender
	hook func()
}

func (s beforeSend) Send(ctx context.Context, m *mail.Message, handOver mail.HandOver) error {
	s.hook()
	return s.next.Send(ctx, m, handOver)
}

func TestUnsubscribeWhileWaitingForAConnectionIsHonoured(t *testing.T) {
	t.Parallel()
	b := setupWorker(t, redistest.Client(t), time.Hour)
	ctx := context.Background()
	b.due(t, "b1")
	b.h.Sender = beforeSend{next: b.h.Sender, hook: func() {
		// Acknowledged after the early check, before the hand-over.
		_, err := b.h.Suppressions.Add(ctx, suppression.Entry{Recipient: b.keys.Recipient("ann@example.com"),
			Storefront: "pink", Scope: suppression.BasketAssistance, Reason: suppression.Unsubscribed, Origin: suppression.Recipient})
		require.NoError(t, err)
	}}
	require.NoError(t, b.h.SendReminder(ctx, reminderTask("b1", 1, 1)), "an outcome, not a failure")
	assert.Empty(t, b.smtp.Messages(), "the hand-over had the last word")
	assert.Equal(t, "suppressed", b.claim(t, "b1"))
}

func TestPurchaseWhileWaitingForAConnectionIsHonoured(t *testing.T) {
	t.Parallel()
	b := setupWorker(t, redistest.Client(t), time.Hour)
	ctx := context.Background()
	b.due(t, "b1")
	b.h.Sender = beforeSend{next: b.h.Sender, hook: func() {
		_, err := b.h.Baskets.Apply(ctx, mustSeal(t, b, basket.Event{ID: "order", Type: basket.OrderCompleted, Storefront: "pink",
			BasketID: "b1", OccurredAt: b.now}))
		require.NoError(t, err)
	}}
	require.NoError(t, b.h.SendReminder(ctx, reminderTask("b1", 1, 1)))
	assert.Empty(t, b.smtp.Messages())
}

// A decision taken just before the quiet hours, and a connection that came
// free only once they had begun: the hand-over defers the email to their
// end, and nothing is sent.
func TestQuietHoursThatBeginWhileWaitingForAConnectionDefer(t *testing.T) {
	t.Parallel()
	b := setupWorker(t, redistest.Client(t), time.Hour)
	ctx := context.Background()
	b.due(t, "b1")
	sf := b.h.opts.Storefronts["pink"]
	sf.Policy.QuietHours, sf.Location = policy.Hours{Start: "21:00", End: "08:00"}, time.UTC
	b.h.opts.Storefronts = map[string]basket.Storefront{"pink": sf}
	y, m, d := b.now.Date()
	var clock atomic.Int64
	clock.Store(time.Date(y, m, d+1, 20, 59, 59, 0, time.UTC).UnixNano()) // a second before the quiet hours
	b.h.opts.Now = func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	b.h.Sender = beforeSend{next: b.h.Sender, hook: func() { clock.Add(int64(2 * time.Second)) }}

	err := b.h.SendReminder(ctx, reminderTask("b1", 1, 1))
	var deferred *Deferred
	require.ErrorAs(t, err, &deferred)
	assert.Equal(t, string(policy.QuietHours), deferred.Reason)
	assert.True(t, time.Date(y, m, d+2, 8, 0, 0, 0, time.UTC).Equal(deferred.Until), "until 08:00, got %s", deferred.Until)
	assert.Empty(t, b.smtp.Messages(), "nothing sent in the night")
	assert.Empty(t, b.claim(t, "b1"), "the step is free for the run at 08:00")
}

func mustSeal(t *testing.T, b *workerBundle, e basket.Event) basket.Sealed {
	t.Helper()
	s, err := basket.Seal(b.keys, e)
	require.NoError(t, err)
	return s
}

func TestCrashBeforeHandOverSendsOnRetry(t *testing.T) {
	t.Parallel()
	b := setupWorker(t, redistest.Client(t), time.Hour)
	ctx := context.Background()
	b.due(t, "b1")
	// A worker claimed the step and died waiting for a connection.
	_, err := b.h.Baskets.Claim(ctx, "pink", "b1", 1, 1, "dead-attempt")
	require.NoError(t, err)
	require.NoError(t, b.h.SendReminder(ctx, reminderTask("b1", 1, 1)))
	assert.Len(t, b.smtp.Messages(), 1, "nothing had been handed over: the retry sends")
	assert.Equal(t, "sent", b.claim(t, "b1"))
}

func TestCrashAfterHandOverDropsInDoubt(t *testing.T) {
	t.Parallel()
	b := setupWorker(t, redistest.Client(t), time.Hour)
	ctx := context.Background()
	b.due(t, "b1")
	_, err := b.h.Baskets.Claim(ctx, "pink", "b1", 1, 1, "dead-attempt")
	require.NoError(t, err)
	key, fields := b.h.Suppressions.Blocking(b.keys.Recipient("ann@example.com"), "pink", suppression.BasketAssistance)
	require.NoError(t, b.h.Baskets.HandOver(ctx, "pink", "b1", 1, 1, "dead-attempt", basket.Suppression{Key: key, Fields: fields}, basket.Pace{}))
	var d *Deferred
	require.ErrorAs(t, b.h.SendReminder(ctx, reminderTask("b1", 1, 1)), &d, "the attempt may be alive yet")
	b.age(t, "b1", testHandOverLife)
	require.NoError(t, b.h.SendReminder(ctx, reminderTask("b1", 1, 1)), "in doubt is an outcome")
	assert.Empty(t, b.smtp.Messages(), "the dot may have gone out: never a second email")
	assert.Equal(t, "in_doubt", b.claim(t, "b1"))
}

func TestConnectionCutAfterTheDotIsInDoubtAndNotRetried(t *testing.T) {
	t.Parallel()
	b := setupWorker(t, redistest.Client(t), time.Hour)
	ctx := context.Background()
	b.due(t, "b1")
	b.smtp.Fail(smtptest.Fault{Stage: smtptest.DropAt})
	require.NoError(t, b.h.SendReminder(ctx, reminderTask("b1", 1, 1)))
	assert.Equal(t, "in_doubt", b.claim(t, "b1"))
	require.NoError(t, b.h.SendReminder(ctx, reminderTask("b1", 1, 1)), "asynq running it again changes nothing")
	assert.Len(t, b.smtp.Messages(), 1, "the server had it once")
}

func TestBodyCutBeforeTheDotIsRetried(t *testing.T) {
	t.Parallel()
	b := setupWorker(t, redistest.Client(t), time.Hour)
	ctx := context.Background()
	b.due(t, "b1")
	b.smtp.Fail(smtptest.Fault{Stage: smtptest.AtDot, Code: 451, Enhanced: smtp.EnhancedCode{4, 3, 0}, Text: "<ann@example.com> later"})
	err := b.h.SendReminder(ctx, reminderTask("b1", 1, 1))
	require.Error(t, err, "a refusal after the dot delivered nothing: retry")
	assert.False(t, errors.Is(err, asynq.SkipRetry))
	assert.NotContains(t, err.Error(), "ann@example.com", "asynq stores this text")
	assert.Empty(t, b.claim(t, "b1"), "the claim is freed for the retry")
	require.NoError(t, b.h.SendReminder(ctx, reminderTask("b1", 1, 1)))
	assert.Len(t, b.smtp.Messages(), 1)
}

func TestBouncesAreClassifiedByEnhancedCode(t *testing.T) {
	t.Parallel()
	t.Run("550 5.1.1 after DATA suppresses as hard_bounce and completes", func(t *testing.T) {
		t.Parallel()
		b := setupWorker(t, redistest.Client(t), time.Hour)
		b.due(t, "b1")
		b.smtp.Fail(smtptest.Fault{Stage: smtptest.AtDot, Code: 550, Enhanced: smtp.EnhancedCode{5, 1, 1}, Text: "<ann@example.com> no such user"})
		require.NoError(t, b.h.SendReminder(context.Background(), reminderTask("b1", 1, 1)), "a bounce is an outcome")
		assert.True(t, b.suppressed(t))
		assert.Equal(t, "bounced", b.claim(t, "b1"))
	})
	t.Run("550 5.7.1 at RCPT suppresses nobody and is retried", func(t *testing.T) {
		t.Parallel()
		b := setupWorker(t, redistest.Client(t), time.Hour)
		b.due(t, "b1")
		b.smtp.Fail(smtptest.Fault{Stage: smtptest.AtRcpt, Code: 550, Enhanced: smtp.EnhancedCode{5, 7, 1}, Text: "<ann@example.com>: Relay access denied"})
		err := b.h.SendReminder(context.Background(), reminderTask("b1", 1, 1))
		require.Error(t, err, "the relay's fault is a failure for ops")
		assert.False(t, errors.Is(err, asynq.SkipRetry), "a fault is retried: the relay may be fixed in time")
		assert.NotContains(t, err.Error(), "ann@example.com")
		assert.Equal(t, 1.0, counted(t, b.h.opts.Metrics.PolicyRejections))
		assert.False(t, b.suppressed(t), "the sender's problem never suppresses the recipient")
		assert.Empty(t, b.claim(t, "b1"), "freed for the retry")

		// The relay is fixed before the retry: the reminder heals on its own.
		require.NoError(t, b.h.SendReminder(context.Background(), reminderTask("b1", 1, 1)))
		assert.Len(t, b.smtp.Messages(), 1)
		assert.Equal(t, "sent", b.claim(t, "b1"))
	})
}

func TestNeverBeforeDue(t *testing.T) {
	t.Parallel()
	b := setupWorker(t, redistest.Client(t), time.Hour)
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	b.h.opts.Now = func() time.Time { return now }
	b.due(t, "b1")
	due := now.Add(400 * time.Millisecond)
	task := asynq.NewTask(TypeSendReminder, []byte(`{"storefront":"pink","basket_id":"b1","step":1,"version":1,"due":"`+due.Format(time.RFC3339Nano)+`"}`))
	err := b.h.SendReminder(context.Background(), task)
	var d *Deferred
	require.ErrorAs(t, err, &d)
	assert.Equal(t, due, d.Until)
	assert.Empty(t, b.smtp.Messages())
	assert.Empty(t, b.claim(t, "b1"), "nothing claimed")

	now = due
	require.NoError(t, b.h.SendReminder(context.Background(), task))
	assert.Len(t, b.smtp.Messages(), 1)
}

func TestDeferralWaitsForItsOwnInstant(t *testing.T) {
	t.Parallel()
	f := deferOr(func(int, error, *asynq.Task) time.Duration { return time.Hour })
	assert.Equal(t, time.Hour, f(0, errors.New("x"), nil))
	got := f(0, &Deferred{Until: time.Now().Add(10 * time.Second)}, nil)
	assert.InDelta(t, 10.5, got.Seconds(), 1, "a deferral waits for its own instant, rounded up")
}

// A delivery ends a streak of soft bounces: the streak is read with the
// send's other checks, and cleared only when there is one.
func TestADeliveryEndsASoftBounceStreak(t *testing.T) {
	t.Parallel()
	b := setupWorker(t, redistest.Client(t), time.Hour)
	b.h.opts.SoftLimit = 3
	ctx := context.Background()
	ann := b.keys.Recipient("ann@example.com")
	for range 2 {
		limited, err := b.h.Suppressions.SoftBounce(ctx, ann, 3)
		require.NoError(t, err)
		require.False(t, limited)
	}
	streak := func() int64 {
		pipe := b.rdb.Pipeline()
		n := b.h.Suppressions.SoftBouncesIn(ctx, pipe, ann)
		_, _ = pipe.Exec(ctx)
		v, err := n()
		require.NoError(t, err)
		return v
	}
	require.Equal(t, int64(2), streak())
	b.due(t, "b1")
	require.NoError(t, b.h.SendReminder(ctx, reminderTask("b1", 1, 1)))
	require.Len(t, b.smtp.Messages(), 1)
	assert.Zero(t, streak(), "delivered: the streak starts again from zero")
}

// A final dot refused after the hand-over delivered nothing: the email the
// hand-over counted in the recipient's history is taken back, so that the
// retry is not held back by the default cap of one a day (by itself).
func TestARefusedDotIsNotCountedAgainstTheFrequencyCap(t *testing.T) {
	t.Parallel()
	b := setupWorker(t, redistest.Client(t), time.Hour)
	sf := b.h.opts.Storefronts["pink"]
	sf.Policy.FrequencyCap = policy.Cap{Max: 1, Per: 24 * time.Hour}
	b.h.opts.Storefronts["pink"] = sf
	ctx := context.Background()
	b.due(t, "b1")
	b.smtp.Fail(smtptest.Fault{Stage: smtptest.AtDot, Code: 451, Enhanced: smtp.EnhancedCode{4, 3, 0}, Text: "later"})
	require.Error(t, b.h.SendReminder(ctx, reminderTask("b1", 1, 1)), "refused after the hand-over: retried")
	require.NoError(t, b.h.SendReminder(ctx, reminderTask("b1", 1, 1)), "the retry is sent, not deferred by its own email")
	assert.Len(t, b.smtp.Messages(), 1)
	assert.Equal(t, "sent", b.claim(t, "b1"))
}

// A reminder whose every attempt fails is archived by asynq after its last
// retry; the decision record says so, once, where support looks (explain,
// GET /v1/baskets/…), with the last failure's reason, and asynq's stored
// error names no one.
func TestTheLastFailedAttemptIsRecorded(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		fault  smtptest.Fault
		reason policy.Reason
	}{
		{"451 after DATA", smtptest.Fault{Stage: smtptest.AtDot, Code: 451, Enhanced: smtp.EnhancedCode{4, 3, 0}, Text: "<ann@example.com> later"}, policy.RetriesExhausted},
		{"550 5.7.1 at RCPT", smtptest.Fault{Stage: smtptest.AtRcpt, Code: 550, Enhanced: smtp.EnhancedCode{5, 7, 1}, Text: "<ann@example.com>: Relay access denied"}, policy.SenderRejected},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			lastFailureIsRecorded(t, c.fault, c.reason)
		})
	}
}

func lastFailureIsRecorded(t *testing.T, fault smtptest.Fault, reason policy.Reason) {
	rdb := redistest.Private(t)
	b := setupWorker(t, rdb, time.Hour)
	var logs logtest.Buffer
	b.h.opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	ctx := context.Background()
	b.due(t, "b1")
	b.smtp.Fail(fault, fault)
	_, err := asynq.NewClientFromRedisClient(rdb).EnqueueContext(ctx, reminderTask("b1", 1, 1), asynq.Queue(QueueEmail), asynq.MaxRetry(1))
	require.NoError(t, err)
	srv := NewServer(rdb, ServerOptions{Concurrency: 1, PollInterval: 10 * time.Millisecond, RetryBase: time.Millisecond})
	require.NoError(t, srv.Start(b.h.Mux()))
	defer srv.Shutdown()

	insp := asynq.NewInspectorFromRedisClient(rdb)
	var archived []*asynq.TaskInfo
	require.Eventually(t, func() bool {
		archived, err = insp.ListArchivedTasks(QueueEmail)
		return err == nil && len(archived) == 1
	}, 15*time.Second, 10*time.Millisecond, "two failed attempts, then archived")
	assert.NotContains(t, archived[0].LastErr, "ann@example.com", "asynq stores this text")
	assert.Empty(t, b.smtp.Messages())

	decisions, err := b.h.Baskets.Decisions(ctx, "pink", "b1")
	require.NoError(t, err)
	var failed []basket.Decision
	for _, d := range decisions {
		if d.Outcome == policy.Failed {
			failed = append(failed, d)
		}
	}
	require.Len(t, failed, 1, "the first failure was retried, and is no decision: %+v", decisions)
	assert.Equal(t, reason, failed[0].Reason)
	assert.Equal(t, 1, failed[0].Step)
	assert.Equal(t, 1.0, counted(t, b.h.opts.Metrics.Reminders.WithLabelValues(OutcomeFailed)), "ops alert on failed")
	assert.Equal(t, 2.0, counted(t, b.h.opts.Metrics.Reminders.WithLabelValues(OutcomeRetry)), "each attempt failed and was retried")
	assert.Contains(t, logs.String(), "reminder failed on its last attempt; archived", logs.String())
	assert.Contains(t, logs.String(), " attempts=2 ", "the first and its one retry")
}

// counted reads a counter's value.
func counted(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, c.Write(&m))
	return m.GetCounter().GetValue()
}

// age makes basketID's step-1 claim look as if written by since ago.
func (b *workerBundle) age(t *testing.T, basketID string, since time.Duration) {
	t.Helper()
	require.NoError(t, b.rdb.PExpire(context.Background(), "ba:{pink:"+basketID+"}:step:1", basket.DefaultClaimTTL-since).Err())
}

// The gap a failover showed: an attempt's lease expired in an outage while
// the attempt lived on, so asynq ran the task again beside it. The second
// run found the live hand-over and used to call it in doubt; the live one,
// its hand-over then unconfirmed, sent nothing and freed the step, and the
// email was never sent. Now the second run waits the hand-over's life out
// (a deferral, no retry spent) and, the step freed, its next run sends.
func TestARunBesideALiveHandOverWaitsForItAndTheEmailGoesOut(t *testing.T) {
	t.Parallel()
	b := setupWorker(t, redistest.Client(t), time.Hour)
	ctx := context.Background()
	b.due(t, "b1")
	real := b.h.Sender
	var beside error
	b.h.Sender = senderFunc(func(ctx context.Context, m *mail.Message, handOver mail.HandOver) error {
		return real.Send(ctx, m, func(ctx context.Context) error {
			if err := handOver(ctx); err != nil {
				return err
			}
			beside = b.h.SendReminder(ctx, reminderTask("b1", 1, 1)) // asynq's second run
			return errors.New("WAIT: 0 of 1 replicas within 1s")     // as an unconfirmed hand-over fails
		})
	})
	require.Error(t, b.h.SendReminder(ctx, reminderTask("b1", 1, 1)), "the live attempt: nothing sent, retried")
	var d *Deferred
	require.ErrorAs(t, beside, &d, "the run beside it waits")
	assert.Equal(t, string(policy.HandingOver), d.Reason)
	assert.InDelta(t, testHandOverLife.Seconds(), d.After.Seconds(), 5)
	assert.Empty(t, b.smtp.Messages())
	assert.Empty(t, b.claim(t, "b1"), "the live attempt freed the step")

	b.h.Sender = real
	require.NoError(t, b.h.SendReminder(ctx, reminderTask("b1", 1, 1)), "the deferred run, later")
	assert.Len(t, b.smtp.Messages(), 1, "sent, once")
	assert.Equal(t, "sent", b.claim(t, "b1"))
}

// senderFunc is a Sender made of a function.
type senderFunc func(context.Context, *mail.Message, mail.HandOver) error

func (f senderFunc) Send(ctx context.Context, m *mail.Message, h mail.HandOver) error {
	return f(ctx, m, h)
}

// An attempt whose claim another took over does not give the step up: the
// other may never end it (a failover can lose its task while its claim
// survives). It tries again, takes the dead attempt's claim over, and the
// email goes out once.
func TestAClaimTakenOverIsCheckedAgainNotGivenUp(t *testing.T) {
	t.Parallel()
	b := setupWorker(t, redistest.Client(t), time.Hour)
	ctx := context.Background()
	b.due(t, "b1")
	real := b.h.Sender
	b.h.Sender = senderFunc(func(ctx context.Context, m *mail.Message, handOver mail.HandOver) error {
		// Another attempt claims the step now, and then dies.
		_, err := b.h.Baskets.Claim(ctx, "pink", "b1", 1, 1, "dead-attempt")
		require.NoError(t, err)
		return real.Send(ctx, m, handOver)
	})
	err := b.h.SendReminder(ctx, reminderTask("b1", 1, 1))
	require.ErrorIs(t, err, errClaimLost, "retried, not dropped")
	assert.False(t, errors.Is(err, asynq.SkipRetry))
	assert.Empty(t, b.smtp.Messages(), "the hand-over said no")
	assert.Equal(t, "claimed:dead-attempt", b.claim(t, "b1"))

	b.h.Sender = real
	require.NoError(t, b.h.SendReminder(ctx, reminderTask("b1", 1, 1)))
	assert.Len(t, b.smtp.Messages(), 1, "the retry took the dead claim over and sent")
	assert.Equal(t, "sent", b.claim(t, "b1"))
	require.NoError(t, b.h.SendReminder(ctx, reminderTask("b1", 1, 1)))
	assert.Len(t, b.smtp.Messages(), 1, "and never again")
}
