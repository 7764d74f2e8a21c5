package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/secrets"
	"github.com/basketassist/basketassist/suppression"
	"github.com/basketassist/basketassist/templates"
)

// Options configures the Handlers. Zero values: no reminders, time.Now, logs discarded.
type Options struct {
	// Steps are the reminder delays, each from the basket's last activity.
	Steps       []time.Duration
	Storefronts map[string]basket.Storefront
	// PublicURL is where customers reach the web routes, e.g. "https://ba.example".
	PublicURL string
	// MaxRetry is how often a temporarily failing send is retried (default 10).
	MaxRetry int
	Now      func() time.Time
	Logger   *slog.Logger
	Metrics  *Metrics
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
		o.Metrics = NewMetrics(nil)
	}
	if o.MaxRetry <= 0 {
		o.MaxRetry = 10
	}
	o.PublicURL = strings.TrimRight(o.PublicURL, "/")
	return &Handlers{Deps: d, opts: o, composer: &Composer{Tokens: d.Tokens, Renderer: d.Renderer, PublicURL: o.PublicURL, Now: o.Now}, sched: newScheduler(d.Redis, o.MaxRetry)}
}

// Mux routes task types to handlers, with logging and recovery middleware.
func (h *Handlers) Mux() *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.Use(logTasks(h.opts.Logger))
	mux.HandleFunc(TypeApplyEvents, h.ApplyEvents)
	mux.HandleFunc(TypeSendReminder, h.SendReminder)
	return mux
}

// ApplyEvents applies a batch of sealed events in order. It is safe to run
// again after any failure: applied events are recognised by id, and the
// reminder the state wants is (re)scheduled under a deterministic task id.
func (h *Handlers) ApplyEvents(ctx context.Context, t *asynq.Task) error {
	var p applyPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("decode events payload: %v: %w", err, asynq.SkipRetry)
	}
	for _, e := range p.Events {
		res, err := h.Baskets.Apply(ctx, e)
		if err != nil {
			return err
		}
		h.opts.Metrics.Events.WithLabelValues(string(e.Type), string(res.Outcome)).Inc()
		h.opts.Logger.DebugContext(ctx, "event", "storefront", e.Storefront, "basket_id", e.BasketID,
			"event_id", e.ID, "type", e.Type, "outcome", res.Outcome, "version", res.Version)
		if res.OldTask != "" {
			if err := h.sched.cancel(res.OldTask); err != nil {
				return err
			}
		}
		if res.Task != "" {
			if err := h.scheduleStep(ctx, e.Storefront, e.BasketID, res.Task, res.Sent+1, res.Version, res.LastActivity); err != nil {
				return err
			}
		}
	}
	return nil
}

func (h *Handlers) scheduleStep(ctx context.Context, storefront, basketID, taskID string, step int, version int64, lastActivity time.Time) error {
	if step < 1 || step > len(h.opts.Steps) {
		return nil // the configuration has fewer steps than when the state was written
	}
	due := lastActivity.Add(h.opts.Steps[step-1])
	return h.sched.schedule(ctx, taskID, reminderPayload{Storefront: storefront, BasketID: basketID, Step: step, Version: version}, due)
}

// SendReminder sends one reminder step, if it is still wanted. See the
// package documentation of basket.Store.Claim for why it never sends twice.
func (h *Handlers) SendReminder(ctx context.Context, t *asynq.Task) error {
	var p reminderPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("decode reminder payload: %v: %w", err, asynq.SkipRetry)
	}
	log := h.opts.Logger.With("storefront", p.Storefront, "basket_id", p.BasketID, "step", p.Step, "version", p.Version)
	sf, ok := h.opts.Storefronts[p.Storefront]
	if !ok {
		h.skip(ctx, log, "unknown_storefront")
		return nil
	}
	b, err := h.Baskets.Claim(ctx, p.Storefront, p.BasketID, p.Version, p.Step)
	var dropped *basket.ErrDropped
	if errors.As(err, &dropped) {
		h.skip(ctx, log, dropped.Reason)
		return nil
	}
	if err != nil {
		return err
	}
	rcpt := h.Keys.Recipient(b.Customer.Email)
	blocked, entry, err := h.Suppressions.Check(ctx, rcpt, p.Storefront, suppression.BasketAssistance)
	if err != nil {
		return h.release(ctx, p, err)
	}
	if blocked {
		h.skip(ctx, log, "suppressed", "suppression", entry.Scope, "suppression_reason", entry.Reason)
		return h.finish(ctx, p, basket.Suppressed)
	}
	msg, err := h.composer.Compose(sf, b, p.Step, rcpt)
	if err != nil {
		_ = h.finishQuietly(ctx, p, basket.Failed)
		return fmt.Errorf("compose reminder: %v: %w", err, asynq.SkipRetry)
	}
	// Once handed to SMTP a send must finish even if shutdown cancels ctx:
	// abandoning it midway would leave the outcome in doubt.
	sendErr := h.Sender.Send(context.WithoutCancel(ctx), msg)
	if sendErr == nil {
		h.opts.Metrics.Sent.WithLabelValues(p.Storefront, strconv.Itoa(p.Step)).Inc()
		log.InfoContext(ctx, "reminder sent", "recipient", rcpt.String(), "message_id", msg.MessageID)
		return h.finish(ctx, p, basket.Sent)
	}
	var se *SendError
	if !errors.As(sendErr, &se) {
		se = &SendError{Class: Temporary, Err: sendErr}
	}
	h.opts.Metrics.SMTPErrs.WithLabelValues(se.Class.String()).Inc()
	log = log.With("recipient", rcpt.String(), "smtp_class", se.Class.String(), "smtp_code", se.Code)
	switch se.Class {
	case Temporary:
		log.WarnContext(ctx, "reminder send failed, will retry", "error", se.Err.Error())
		return h.release(ctx, p, sendErr)
	case RecipientRejected:
		log.WarnContext(ctx, "recipient rejected: suppressing globally as hard_bounce")
		if _, err := h.Suppressions.Add(ctx, suppression.Entry{Recipient: rcpt, Scope: suppression.All,
			Reason: suppression.HardBounce, Origin: suppression.System}); err != nil {
			return h.release(ctx, p, err) // retrying re-runs the send, whose 5xx suppresses again
		}
		_ = h.finishQuietly(ctx, p, basket.Bounced)
	case InDoubt:
		log.ErrorContext(ctx, "connection lost after the message was handed over; not retrying to avoid a duplicate")
		_ = h.finishQuietly(ctx, p, basket.InDoubt)
	default:
		log.ErrorContext(ctx, "message rejected", "error", se.Err.Error())
		_ = h.finishQuietly(ctx, p, basket.Failed)
	}
	return fmt.Errorf("send reminder: %v: %w", sendErr, asynq.SkipRetry)
}

func (h *Handlers) skip(ctx context.Context, log *slog.Logger, reason string, args ...any) {
	h.opts.Metrics.Skipped.WithLabelValues(reason).Inc()
	log.InfoContext(ctx, "reminder skipped", append([]any{"reason", reason}, args...)...)
}

// release frees the step's claim so that asynq's retry can claim it again.
func (h *Handlers) release(ctx context.Context, p reminderPayload, cause error) error {
	if err := h.Baskets.Release(context.WithoutCancel(ctx), p.Storefront, p.BasketID, p.Step); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

func (h *Handlers) finishQuietly(ctx context.Context, p reminderPayload, outcome string) error {
	_, err := h.Baskets.Finish(context.WithoutCancel(ctx), p.Storefront, p.BasketID, p.Version, p.Step, outcome)
	if err != nil {
		h.opts.Logger.ErrorContext(ctx, "record reminder outcome", "storefront", p.Storefront, "basket_id", p.BasketID, "error", err.Error())
	}
	return err
}

// finish records the outcome and schedules the next step the state wants.
// After a successful send an error here must not cause a resend: the claim
// already says "sending", so a retry drops as in_doubt rather than mailing again.
func (h *Handlers) finish(ctx context.Context, p reminderPayload, outcome string) error {
	ctx = context.WithoutCancel(ctx)
	next, err := h.Baskets.Finish(ctx, p.Storefront, p.BasketID, p.Version, p.Step, outcome)
	if err != nil {
		return err
	}
	if next.OldTask != "" {
		if err := h.sched.cancel(next.OldTask); err != nil {
			return err
		}
	}
	if next.Task == "" {
		return nil
	}
	return h.scheduleStep(ctx, p.Storefront, p.BasketID, next.Task, next.Step, next.Version, next.LastActivity)
}
