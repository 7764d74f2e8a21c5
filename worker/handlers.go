package worker

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/bounce"
	"github.com/basketassist/basketassist/mail"
	"github.com/basketassist/basketassist/policy"
	"github.com/basketassist/basketassist/replication"
	"github.com/basketassist/basketassist/secrets"
	"github.com/basketassist/basketassist/suppression"
	"github.com/basketassist/basketassist/templates"
)

// Options configures the Handlers. Zero values: time.Now, logs discarded.
type Options struct {
	Storefronts map[string]basket.Storefront
	// PublicURL is where customers reach the web routes, e.g. "https://ba.example".
	PublicURL string
	// MaxRetry is how often a temporarily failing send is retried (default 10).
	MaxRetry int
	// RetryBase is the first retry's delay (default 30 s), as the server's
	// (ServerOptions.RetryBase): a reminder that failed in a batch is
	// retried as its own task after it.
	RetryBase time.Duration
	// PersistFor is how long a write that must not be lost (an outcome, a
	// freed claim) is retried through a Redis outage (DefaultPersistFor).
	PersistFor time.Duration
	// SoftLimit is how many temporary refusals about a recipient in a row
	// suppress them globally as soft_bounce (bounces.soft_limit; 0: never).
	SoftLimit int
	// HistoryFor is how long each recipient's send history is kept for the
	// frequency cap: the longest policy.frequency_cap.per of any storefront.
	HistoryFor time.Duration
	// Replication has each task a reminder continues in (after a batch, a
	// deferral) confirmed by the replicas asked for; Prefix is
	// redis.prefix, for the key the confirmation writes.
	Replication replication.Wait
	Prefix      string
	Now         func() time.Time
	Logger      *slog.Logger
	Metrics     *Metrics
}

// DefaultPersistFor is Options.PersistFor's default.
const DefaultPersistFor = 30 * time.Second

// HandOverLife is how long after its hand-over an attempt with the
// default PersistFor may still be at work on a step, for
// basket.StoreOptions.HandOverLife: the replicas' confirmation of the
// hand-over (wait), the rest of the SMTP conversation (smtpTimeout bounds
// each message's), writing how it ended or freeing the step, and a margin
// for the commands' own timeouts. A later attempt that found the
// hand-over sooner could call in doubt an email the live one then never
// sends; one that waits this long only delays an in_doubt.
func HandOverLife(smtpTimeout, wait time.Duration) time.Duration {
	return wait + smtpTimeout + DefaultPersistFor + 10*time.Second
}

// Deps are the parts the handlers use.
type Deps struct {
	Redis        redis.UniversalClient
	Baskets      *basket.Store
	Suppressions *suppression.Store
	Tokens       *suppression.Tokens
	Keys         *secrets.Keys
	Renderer     *templates.Renderer
	Sender       Sender
}

// Handlers processes the worker's tasks.
type Handlers struct {
	Deps
	opts     Options
	sched    *scheduler
	composer *Composer
}

// NewHandlers returns Handlers. The asynq client and inspector they schedule
// with share d.Redis.
func NewHandlers(d Deps, o Options) *Handlers {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil, bounce.NewMetrics(nil))
	}
	if o.MaxRetry <= 0 {
		o.MaxRetry = 10
	}
	if o.RetryBase <= 0 {
		o.RetryBase = 30 * time.Second
	}
	if o.PersistFor <= 0 {
		o.PersistFor = DefaultPersistFor
	}
	o.PublicURL = strings.TrimRight(o.PublicURL, "/")
	return &Handlers{Deps: d, opts: o, composer: &Composer{Tokens: d.Tokens, Keys: d.Keys, Renderer: d.Renderer, PublicURL: o.PublicURL, Now: o.Now}, sched: newScheduler(d.Redis, o.MaxRetry, o.Replication, o.Prefix)}
}

// Mux routes task types to handlers, with logging and recovery middleware.
func (h *Handlers) Mux() *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.Use(logTasks(h.opts.Logger))
	mux.HandleFunc(TypeApplyEvents, h.ApplyEvents)
	mux.HandleFunc(TypeSendReminder, h.SendReminder)
	mux.HandleFunc(TypeSendReminders, h.SendReminders)
	return mux
}

// ApplyEvents applies a batch of sealed events in order. It is safe to run
// again after any failure: applied events are recognised by id, and the
// reminder the state wants joins the due index in the same atomic step.
func (h *Handlers) ApplyEvents(ctx context.Context, t *asynq.Task) error {
	var p applyPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("decode events payload: %v: %w", err, asynq.SkipRetry)
	}
	// The whole batch in one round trip; each event is atomic on its own.
	results, err := h.Baskets.ApplyMany(ctx, p.Events)
	if err != nil {
		return err
	}
	for i, e := range p.Events {
		res := results[i]
		h.opts.Metrics.Events.WithLabelValues(string(e.Type), string(res.Outcome)).Inc()
		h.opts.Logger.DebugContext(ctx, "event", "storefront", e.Storefront, "basket_id", e.BasketID,
			"event_id", e.ID, "type", e.Type, "outcome", res.Outcome, "version", res.Version)
		if e.Type == basket.OrderCompleted && e.Recipient != "" && res.Outcome != basket.Ignored {
			// An order that names the shopper ends their other open
			// sequences at this storefront too (policy.Ordered).
			if err := h.Baskets.NoteOrder(ctx, e.Recipient, e.Storefront, e.OccurredAt); err != nil {
				return err
			}
		}
		if res.OldTask != "" && !res.OldWaiting {
			// Already queued (due, or deferred): delete it there, so that
			// it does not linger; if it runs first, the version check
			// drops it.
			if err := h.sched.cancel(res.OldTask); err != nil {
				return err
			}
		}
	}
	return nil
}

// Sender delivers a message, calling handOver at the last moment before
// the point of no return (see mail.HandOver). Errors are *mail.SendError,
// or handOver's own error.
type Sender interface {
	Send(ctx context.Context, m *mail.Message, handOver mail.HandOver) error
}

// SendReminder sends one reminder step, if it is still wanted. Per step it
// moves claimed → handing_over → sent (see basket.Store.Claim and
// HandOver): a retry after a crash before the hand-over sends, one after it
// drops as in_doubt, so an email is never sent twice and never lost unless
// the connection broke after the final dot. Outcomes (sent, dropped,
// suppressed, bounced, in doubt) complete the task; only faults return an
// error, retried (the relay's refusals too) until asynq archives it after
// the last retry; only a reminder that cannot be built (a template's
// fault) is archived at once.
func (h *Handlers) SendReminder(ctx context.Context, t *asynq.Task) error {
	var p reminderPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("decode reminder payload: %v: %w", err, asynq.SkipRetry)
	}
	err := h.send(ctx, []reminderPayload{p})[0]
	if retried, last := lastAttempt(ctx, err); last {
		// asynq archives the task now: say so where support looks.
		log := h.logFor(p)
		log.ErrorContext(ctx, "reminder failed on its last attempt; archived", "attempts", p.Tried+retried+1, "error", mail.Describe(err))
		h.record(ctx, log, p, policy.Failed, exhausted(err), nil)
		h.opts.Metrics.Reminders.WithLabelValues(OutcomeFailed).Inc()
	}
	return err
}

// exhausted is the reason recorded for a reminder whose last attempt
// failed with err: the relay's refusal, when that was the last word.
func exhausted(err error) policy.Reason {
	var se *mail.SendError
	if errors.As(err, &se) && se.Class == mail.Rejected {
		return policy.SenderRejected
	}
	return policy.RetriesExhausted
}

// lastAttempt reports whether err, returned by the task's run in ctx, has
// asynq archive the task: a failure (not a deferral, not one archived at
// once, which records its own reason) with none of its retries left, and
// how many times the task had been retried before this run.
func lastAttempt(ctx context.Context, err error) (retried int, last bool) {
	if err == nil || errors.As(err, new(*Deferred)) || errors.Is(err, asynq.SkipRetry) {
		return 0, false
	}
	retried, ok := asynq.GetRetryCount(ctx)
	retries, ok2 := asynq.GetMaxRetry(ctx)
	return retried, ok && ok2 && retried >= retries
}

// logFor is the logger of one reminder's attempt.
func (h *Handlers) logFor(p reminderPayload) *slog.Logger {
	return h.opts.Logger.With("storefront", p.Storefront, "basket_id", p.BasketID, "step", p.Step, "version", p.Version)
}

// SendReminders sends a dispatcher's batch of due reminders, each as
// SendReminder would, at once: one asynq task, one pipelined claim and one
// pipelined read for the lot instead of one each. A reminder that does not
// end here (a deferral, a retry, a permanent fault) continues as its own
// reminder:send task, with the retry machinery of one (see continueAlone);
// only when that cannot be queued does the batch fail, and its retry drops
// the reminders already settled at their claims.
func (h *Handlers) SendReminders(ctx context.Context, t *asynq.Task) error {
	var p remindersPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("decode reminders payload: %v: %w", err, asynq.SkipRetry)
	}
	var failed []error
	for i, err := range h.send(ctx, p.Reminders) {
		if err == nil {
			continue
		}
		if err := h.sched.continueAlone(context.WithoutCancel(ctx), p.Reminders[i], err, h.opts.RetryBase); err != nil {
			failed = append(failed, err)
		}
	}
	return errors.Join(failed...)
}

// send tries each of ps and returns what each came to: nil when it ended
// (sent, dropped, suppressed, bounced, in doubt), else the error asynq is to
// act on (a *Deferred, a temporary fault, or one wrapping asynq.SkipRetry).
// The claims are one pipelined round trip, the policy's reads and the early
// suppression checks another; the sends then run side by side.
func (h *Handlers) send(ctx context.Context, ps []reminderPayload) []error {
	errs := make([]error, len(ps))
	now := h.opts.Now()
	var attempts []*sendAttempt
	var claims []basket.ClaimRequest
	for i, p := range ps {
		log := h.logFor(p)
		sf, ok := h.opts.Storefronts[p.Storefront]
		if !ok {
			h.drop(ctx, log, p, policy.UnknownStorefront)
			continue
		}
		if now.Before(p.Due) {
			// Run early (asynqmon's "run", or clocks apart): never before due.
			errs[i] = h.postpone(ctx, log, p, policy.Decision{Outcome: policy.Defer, Reason: policy.NotDue, Until: p.Due}, now)
			continue
		}
		a := &sendAttempt{h: h, p: p, id: rand.Text(), log: log, sf: sf, index: i, now: now}
		attempts = append(attempts, a)
		claims = append(claims, basket.ClaimRequest{Storefront: p.Storefront, BasketID: p.BasketID, Version: p.Version, Step: p.Step, Attempt: a.id})
	}
	if len(claims) == 0 {
		return errs
	}
	baskets, claimErrs := h.Baskets.ClaimMany(ctx, claims)
	// The policy's reads (history, last order), the early suppression check
	// and the soft-bounce streak share one round trip.
	pipe := h.Redis.Pipeline()
	claimed := attempts[:0]
	for j, a := range attempts {
		var dropped *basket.ErrDropped
		var busy *basket.ErrHandingOver
		switch err := claimErrs[j]; {
		case errors.As(err, &dropped):
			h.drop(ctx, a.log, a.p, dropped.Reason)
			continue
		case errors.As(err, &busy):
			// An attempt whose lease an outage expired may still be at
			// work on it: come back once it must have ended (no retry spent).
			errs[a.index] = h.postpone(ctx, a.log, a.p, policy.Decision{Outcome: policy.Defer, Reason: policy.HandingOver, Until: now.Add(busy.Wait)}, now)
			continue
		case err != nil:
			errs[a.index] = h.retry(err)
			continue
		}
		a.b = baskets[j]
		a.rcpt = h.Keys.Recipient(a.b.Customer.Email)
		a.log = a.log.With("recipient", a.rcpt.String())
		a.recent = h.Baskets.RecentIn(ctx, pipe, a.rcpt.String(), a.sf.ID, now.Add(-a.sf.Policy.FrequencyCap.Per), a.sf.Policy.DryRun)
		a.check = h.Suppressions.CheckIn(ctx, pipe, a.rcpt, a.p.Storefront, suppression.BasketAssistance)
		if h.opts.SoftLimit > 0 {
			a.softBounces = h.Suppressions.SoftBouncesIn(ctx, pipe, a.rcpt)
		}
		claimed = append(claimed, a)
	}
	if len(claimed) == 0 {
		return errs
	}
	_, _ = pipe.Exec(ctx) // each read reports its own error
	if len(claimed) == 1 {
		errs[claimed[0].index] = claimed[0].run(ctx)
	} else {
		// Decided and rendered here, one after another, and sent side by
		// side: rendering on this goroutine grows its stack once per batch,
		// where each sending goroutine, new, grew its own (5 % of the
		// service's CPU while sending, scripts/bench.sh --cpuprofile).
		var wg sync.WaitGroup
		for _, a := range claimed {
			msg, err := a.prepare(ctx)
			if msg == nil {
				errs[a.index] = err
				continue
			}
			wg.Go(func() { errs[a.index] = a.deliver(ctx, msg) })
		}
		wg.Wait()
	}
	h.finishAll(claimed, errs)
	return errs
}

// run takes a claimed reminder, its reads done, to its outcome: the
// policy's decision, the early suppression check, rendering (prepare), and
// the send with its hand-over (deliver).
func (a *sendAttempt) run(ctx context.Context) error {
	msg, err := a.prepare(ctx)
	if msg == nil {
		return err
	}
	return a.deliver(ctx, msg)
}

// prepare asks the policy, checks suppressions early and renders the
// email. It returns the email to send, or nil and what the attempt came
// to (as run does).
func (a *sendAttempt) prepare(ctx context.Context) (*mail.Message, error) {
	h, p, sf, b, rcpt, now := a.h, a.p, a.sf, a.b, a.rcpt, a.now
	sent, ordered, err := a.recent()
	if err != nil {
		return nil, a.release(err)
	}
	dec := decideWith(sf, b, p.Step, now, sent, ordered)
	switch dec.Outcome {
	case policy.Drop:
		h.drop(ctx, a.log, p, dec.Reason)
		return nil, a.finish(ctx, basket.Dropped, "", nil)
	case policy.Defer:
		if err := a.release(nil); err != nil {
			return nil, err
		}
		return nil, h.postpone(ctx, a.log, p, dec, now)
	}
	// An early check spares rendering and a connection for most opted-out
	// people; the hand-over checks again, atomically.
	blocked, entry, err := a.check()
	if err != nil {
		return nil, a.release(err)
	}
	if blocked {
		h.drop(ctx, a.log, p, policy.Suppressed, "suppression", entry.Scope, "suppression_reason", entry.Reason)
		return nil, a.finish(ctx, basket.Suppressed, OutcomeSuppressed, nil)
	}
	if dec.Outcome == policy.WouldSend {
		// policy.dry_run: every check passed; nothing goes to SMTP.
		if err := h.Baskets.NoteWouldSend(ctx, rcpt.String(), p.Storefront, p.BasketID, p.Step, h.pace(sf, now)); err != nil {
			return nil, a.release(err)
		}
		a.log.InfoContext(ctx, "reminder would be sent (policy.dry_run)")
		return nil, a.finish(ctx, basket.WouldSend, OutcomeWouldSend, h.decision(p, policy.WouldSend, ""))
	}
	msg, err := h.composer.Compose(sf, b, p.Step, rcpt)
	if err != nil {
		a.log.ErrorContext(ctx, "compose reminder", "error", mail.Describe(err))
		_ = a.release(nil)
		h.opts.Metrics.Reminders.WithLabelValues(OutcomeFailed).Inc()
		return nil, fmt.Errorf("compose reminder: %w", asynq.SkipRetry)
	}
	return msg, nil
}

// deliver sends a prepared email, with the hand-over as its last word, and
// settles what it came to.
func (a *sendAttempt) deliver(ctx context.Context, msg *mail.Message) error {
	h, p, sf, b, rcpt, now := a.h, a.p, a.sf, a.b, a.rcpt, a.now
	key, fields := h.Suppressions.Blocking(rcpt, p.Storefront, suppression.BasketAssistance)
	pace := h.pace(sf, now)
	zone := recipientZone(sf, b)
	err := h.Sender.Send(ctx, msg, func(ctx context.Context) error {
		pace.Now = h.opts.Now()
		// The policy decided before the wait for a connection, which may
		// have lasted into the night: the quiet hours have the last word
		// too (the cap has it in the script).
		if until, quiet := policy.QuietUntil(sf.Policy.QuietHours, pace.Now, zone); quiet {
			return &quietNow{until: until}
		}
		if err := h.Baskets.HandOver(ctx, p.Storefront, p.BasketID, p.Version, p.Step, a.id,
			basket.Suppression{Key: key, Fields: fields, Recipient: rcpt.String()}, pace); err != nil {
			return err
		}
		a.handedOver = true
		return nil
	})
	return a.settle(ctx, sf, b, rcpt, msg, err)
}

// decide asks the policy about one reminder, reading the recipient's
// recent emails and last order from Redis.
func (h *Handlers) decide(ctx context.Context, sf basket.Storefront, b basket.Basket, step int, rcpt secrets.Recipient, now time.Time) (policy.Decision, error) {
	sent, ordered, err := h.Baskets.Recent(ctx, rcpt.String(), sf.ID, now.Add(-sf.Policy.FrequencyCap.Per), sf.Policy.DryRun)
	if err != nil {
		return policy.Decision{}, err
	}
	return decideWith(sf, b, step, now, sent, ordered), nil
}

// decideWith asks the policy about one reminder, given the recipient's
// recent emails at the storefront and their last order there.
func decideWith(sf basket.Storefront, b basket.Basket, step int, now time.Time, sent []time.Time, ordered time.Time) policy.Decision {
	pol := sf.Policy
	return policy.Decide(policy.Input{Now: now, Step: step, LastActivity: b.LastActivity,
		Consent: b.Customer.Consent.State(), Under16: b.Customer.Under16, Currency: b.Contents.Currency,
		Total: b.Contents.Total(), Location: recipientZone(sf, b), Sent: sent, OrderedAt: ordered, Policy: pol})
}

// recipientZone is the time zone quiet hours are read in: the customer's,
// else the storefront's (nil: UTC, policy.QuietUntil).
func recipientZone(sf basket.Storefront, b basket.Basket) *time.Location {
	if tz := b.Customer.Timezone; tz != "" {
		if l, err := location(tz); err == nil { // validated at ingest
			return l
		}
	}
	return sf.Location
}

var locations sync.Map // zone name → *time.Location: LoadLocation reads tzdata from disk each call

func location(name string) (*time.Location, error) {
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err == nil {
		locations.Store(name, l) // names passed validation: a bounded set (IANA zones)
	}
	return l, err
}

// pace is the frequency cap the hand-over re-checks.
func (h *Handlers) pace(sf basket.Storefront, now time.Time) basket.Pace {
	return basket.Pace{Max: sf.Policy.FrequencyCap.Max, Per: sf.Policy.FrequencyCap.Per, Now: now, Keep: h.opts.HistoryFor}
}

// postpone records and counts a deferral and hands the task back to asynq
// for dec.Until, spending no retry.
func (h *Handlers) postpone(ctx context.Context, log *slog.Logger, p reminderPayload, dec policy.Decision, now time.Time) error {
	h.opts.Metrics.Reminders.WithLabelValues(OutcomeDeferred).Inc()
	h.opts.Metrics.Deferred.WithLabelValues(string(dec.Reason)).Inc()
	h.record(ctx, log, p, policy.Defer, dec.Reason, &dec.Until)
	log.InfoContext(ctx, "reminder deferred", "reason", dec.Reason, "until", dec.Until)
	return &Deferred{Until: dec.Until, Reason: string(dec.Reason), After: dec.Until.Sub(now)}
}

// decision is an entry for the basket's decision record, now.
func (h *Handlers) decision(p reminderPayload, outcome policy.Outcome, reason policy.Reason) *basket.Decision {
	return &basket.Decision{At: h.opts.Now(), Step: p.Step, Outcome: outcome, Reason: reason}
}

// record appends to the basket's decision record. It is best effort: a
// record that cannot be written is logged, and never costs an email.
func (h *Handlers) record(ctx context.Context, log *slog.Logger, p reminderPayload, outcome policy.Outcome, reason policy.Reason, until *time.Time) {
	d := h.decision(p, outcome, reason)
	d.Until = until
	if err := h.Baskets.Record(context.WithoutCancel(ctx), p.Storefront, p.BasketID, *d); err != nil {
		log.WarnContext(ctx, "decision not recorded", "error", mail.Describe(err))
	}
}

// sendAttempt is one try at one reminder step, claimed under id.
type sendAttempt struct {
	h     *Handlers
	p     reminderPayload
	sf    basket.Storefront
	id    string
	log   *slog.Logger
	index int       // in the batch being sent
	now   time.Time // of the decision
	// Set once claimed: the basket, its recipient, and the reads that share
	// one pipeline (softBounces is nil when bounces.soft_limit is 0).
	b           basket.Basket
	rcpt        secrets.Recipient
	recent      func() ([]time.Time, time.Time, error)
	check       func() (bool, suppression.Entry, error)
	softBounces func() (int64, error)
	handedOver  bool // the hand-over was recorded: the final dot may have gone out
	// How it ended, once it has (see finish), and the metric to count then.
	outcome       *basket.FinishRequest
	outcomeMetric string
}

// settle records what the send came to and says whether asynq must run
// the task again.
func (a *sendAttempt) settle(ctx context.Context, sf basket.Storefront, b basket.Basket, rcpt secrets.Recipient, msg *mail.Message, sendErr error) error {
	h, p := a.h, a.p
	if sendErr == nil {
		h.opts.Metrics.Sent.WithLabelValues(p.Storefront, strconv.Itoa(p.Step)).Inc()
		a.log.InfoContext(ctx, "reminder sent", "message_id", msg.MessageID)
		if n, err := a.streak(); err != nil || n > 0 {
			if err := h.Suppressions.ClearSoftBounces(ctx, rcpt); err != nil {
				a.log.WarnContext(ctx, "reset soft bounces", "error", mail.Describe(err)) // at worst a streak outlives this delivery
			}
		}
		return a.finish(ctx, basket.Sent, OutcomeSent, h.decision(p, policy.Send, ""))
	}
	var quiet *quietNow
	if errors.As(sendErr, &quiet) {
		// Night began while the email waited for a connection: nothing
		// was handed over; it goes out when the quiet hours end.
		if err := a.release(nil); err != nil {
			return err
		}
		return h.postpone(ctx, a.log, p, policy.Decision{Outcome: policy.Defer, Reason: policy.QuietHours, Until: quiet.until}, h.opts.Now())
	}
	var dropped *basket.ErrDropped
	if errors.As(sendErr, &dropped) {
		// The last word said no: nothing was handed over, the script recorded why.
		if dropped.Reason == policy.ClaimLost {
			// Another attempt took the step over. It should end it, but it
			// may never: a failover can lose its task while its claim
			// survives. So this one tries again later, when the claim says
			// how it ended (sent, in doubt…) or is a dead attempt's, taken
			// over then; never a second email, the claim decides.
			a.log.InfoContext(ctx, "reminder claimed by another attempt; checking again later")
			return h.retry(errClaimLost)
		}
		if dropped.Reason == policy.FrequencyCap {
			// Another email to this person was handed over since the
			// decision: ask again, with it in the history.
			now := h.opts.Now()
			dec, err := h.decide(ctx, sf, b, p.Step, rcpt, now)
			if err != nil {
				return h.retry(err)
			}
			if dec.Outcome != policy.Defer {
				dec = policy.Decision{Outcome: policy.Defer, Reason: policy.FrequencyCap, Until: now.Add(time.Second)}
			}
			return h.postpone(ctx, a.log, p, dec, now)
		}
		h.drop(ctx, a.log, p, dropped.Reason, "at", "hand_over", "suppression_field", dropped.Field)
		if dropped.Reason == policy.Suppressed {
			h.opts.Metrics.Reminders.WithLabelValues(OutcomeSuppressed).Inc()
		}
		return nil
	}
	var se *mail.SendError
	if !errors.As(sendErr, &se) {
		// The hand-over script failed (Redis): it may have run, so undo it;
		// the final dot was never sent.
		return a.release(sendErr)
	}
	h.opts.Metrics.SMTPErrs.WithLabelValues(se.Class.String(), string(se.Stage)).Inc()
	log := a.log.With("smtp_class", se.Class.String(), "smtp_stage", string(se.Stage), "smtp_code", se.Code, "smtp_status", se.Enhanced, "smtp_desc", se.Desc)
	switch se.Class {
	case mail.InDoubt:
		log.ErrorContext(ctx, "connection lost after the final dot; not retrying, to avoid a second email")
		return a.finish(ctx, basket.InDoubt, OutcomeInDoubt, h.decision(p, policy.Drop, policy.InDoubt))
	case mail.HardBounce:
		h.opts.Metrics.Bounces.WithLabelValues("hard").Inc()
		log.WarnContext(ctx, "recipient's address cannot receive mail: suppressing globally as hard_bounce")
		if _, err := h.Suppressions.Add(ctx, suppression.Entry{Recipient: rcpt, Scope: suppression.All,
			Reason: suppression.HardBounce, Origin: suppression.System}); err != nil {
			return a.release(err) // the retry meets the same bounce and suppresses again
		}
		return a.finish(ctx, basket.Bounced, OutcomeBounced, h.decision(p, policy.Bounced, policy.HardBounce))
	case mail.Rejected:
		// The sender's problem: nobody is suppressed. It is a fault, so it
		// is retried like a temporary one (DESIGN: only a fault that
		// exhausts its retries is archived): a relay fixed within the
		// retries (credentials, an allow-list) heals every reminder it
		// refused, with no operator action; the last attempt records
		// sender_rejected.
		h.opts.Metrics.PolicyRejections.Inc()
		log.ErrorContext(ctx, "SMTP refused the message for a reason on the sending side (relay, auth, policy or reputation); nobody was suppressed; will retry")
		return a.release(se)
	default:
		if se.AboutRecipient() {
			h.opts.Metrics.Bounces.WithLabelValues("soft").Inc()
			limited, err := h.Suppressions.SoftBounce(ctx, rcpt, h.opts.SoftLimit)
			if err != nil {
				return a.release(err)
			}
			if limited {
				h.opts.Metrics.Bounces.WithLabelValues("soft_limit").Inc()
				log.WarnContext(ctx, "recipient soft-bounced too often in a row: suppressing globally as soft_bounce", "soft_limit", h.opts.SoftLimit)
				return a.finish(ctx, basket.Bounced, OutcomeBounced, h.decision(p, policy.Bounced, policy.SoftBounce))
			}
		}
		log.WarnContext(ctx, "reminder not delivered, will retry")
		return a.release(se)
	}
}

// streak is the recipient's soft-bounce streak as read before the send (0
// when bounces.soft_limit is off); an error means it is unknown.
func (a *sendAttempt) streak() (int64, error) {
	if a.softBounces == nil {
		return 0, nil
	}
	return a.softBounces()
}

// recipientHash is the recipient's hash once the claim read the basket, else "".
func (a *sendAttempt) recipientHash() string {
	if a.rcpt.IsZero() {
		return ""
	}
	return a.rcpt.String()
}

// release frees the claim after a failure that delivered nothing and
// returns cause (nil: nothing to retry). The claim must not outlive the
// attempt when the retry is to send, so Redis is given time to come back.
func (a *sendAttempt) release(cause error) error {
	err := a.h.persist(func(ctx context.Context) error {
		return a.h.Baskets.Release(ctx, a.p.Storefront, a.p.BasketID, a.p.Step, a.id, a.recipientHash())
	})
	if err != nil {
		a.log.Error("release reminder claim", "error", mail.Describe(err), "handed_over", a.handedOver)
		if cause == nil {
			return a.h.retry(err)
		}
	}
	if cause == nil {
		return nil
	}
	return a.h.retry(cause)
}

// finish notes how the attempt ended, to be recorded with the others of
// its batch (finishAll), and returns nil: the attempt is over.
func (a *sendAttempt) finish(_ context.Context, outcome, metric string, rec *basket.Decision) error {
	a.outcome = &basket.FinishRequest{Storefront: a.p.Storefront, BasketID: a.p.BasketID, Version: a.p.Version,
		Step: a.p.Step, Outcome: outcome, Record: rec}
	a.outcomeMetric = metric
	return nil
}

// finishAll records the outcomes of attempts in one pipelined round trip
// (retried as persist does); the scripts put each next step the state
// wants in the due index. An error here after a send does not cause a
// resend: the claim says handing_over, so a retry drops as in_doubt rather
// than mailing again.
func (h *Handlers) finishAll(attempts []*sendAttempt, errs []error) {
	var done []*sendAttempt
	for _, a := range attempts {
		if a.outcome != nil {
			done = append(done, a)
		}
	}
	if len(done) == 0 {
		return
	}
	results, failed := make([]basket.FinishResult, len(done)), make([]error, len(done))
	left := make([]int, len(done))
	for i := range left {
		left[i] = i
	}
	_ = h.persist(func(ctx context.Context) error {
		reqs := make([]basket.FinishRequest, len(left))
		for j, i := range left {
			reqs[j] = *done[i].outcome
		}
		res, es := h.Baskets.FinishMany(ctx, reqs)
		var still []int
		for j, i := range left {
			results[i], failed[i] = res[j], es[j]
			if es[j] != nil {
				still = append(still, i)
			}
		}
		left = still
		if len(left) > 0 {
			return failed[left[0]]
		}
		return nil
	})
	for i, a := range done {
		if failed[i] != nil {
			errs[a.index] = h.retry(failed[i])
			continue
		}
		if a.outcomeMetric != "" {
			h.opts.Metrics.Reminders.WithLabelValues(a.outcomeMetric).Inc()
		}
		if next := results[i]; next.OldTask != "" && !next.OldWaiting {
			if err := h.sched.cancel(next.OldTask); err != nil {
				errs[a.index] = h.retry(err)
			}
		}
	}
}

// persist runs a write that must not be lost to a short Redis outage (a
// restart, a failover): it retries with backoff for up to
// Options.PersistFor, ignoring the task's cancellation, which would
// otherwise strand a claim.
func (h *Handlers) persist(f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), h.opts.PersistFor)
	defer cancel()
	wait := 50 * time.Millisecond
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// retry counts an attempt that asynq will run again.
func (h *Handlers) retry(err error) error {
	h.opts.Metrics.Reminders.WithLabelValues(OutcomeRetry).Inc()
	return err
}

// drop counts, logs and records a reminder that is not sent, with its reason.
func (h *Handlers) drop(ctx context.Context, log *slog.Logger, p reminderPayload, reason policy.Reason, args ...any) {
	h.opts.Metrics.Skipped.WithLabelValues(string(reason)).Inc()
	if reason != policy.Suppressed {
		h.opts.Metrics.Reminders.WithLabelValues(OutcomeDropped).Inc()
	}
	log.InfoContext(ctx, "reminder skipped", append([]any{"reason", reason}, args...)...)
	if !slices.Contains(unrecorded, reason) {
		h.record(ctx, log, p, policy.Drop, reason, nil)
	}
}

// quietNow is the hand-over's refusal when the quiet hours began after the
// decision: until is when they end.
type quietNow struct{ until time.Time }

func (q *quietNow) Error() string { return "the quiet hours began before the hand-over" }
func (*quietNow) FixedWords()     {}

// errClaimLost is the retry of an attempt whose claim another took over.
var errClaimLost error = claimLostError{}

type claimLostError struct{}

func (claimLostError) Error() string {
	return "another attempt holds the step's claim: trying again once it has ended"
}
func (claimLostError) FixedWords() {}

// unrecorded are the drops the decision record leaves out: the basket is
// gone (nothing to attach to), or the step's own entry already says it (a
// step sent or ended before has its outcome there, which a batch run again
// would otherwise repeat, crowding the record's last 20). claim_lost is no
// drop: it is retried (errClaimLost).
var unrecorded = []policy.Reason{policy.Gone, policy.AlreadySent, policy.AlreadyDone}
