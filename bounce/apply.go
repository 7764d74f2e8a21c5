package bounce

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/mail"
	"github.com/basketassist/basketassist/policy"
	"github.com/basketassist/basketassist/secrets"
	"github.com/basketassist/basketassist/suppression"
)

// Sources of reports, the values of basketassist_bounce_reports_total{source}.
const (
	SourceSMTP     = "smtp"     // the inbound listener (bounces.listen)
	SourceSES      = "ses"      // POST /v1/feedback/ses
	SourceSendGrid = "sendgrid" // POST /v1/feedback/sendgrid
)

// Report outcomes, the values of basketassist_bounce_reports_total{outcome}.
const (
	OutcomeHardBounce = "hard_bounce"  // the recipient was suppressed
	OutcomeSoftBounce = "soft_bounce"  // counted towards bounces.soft_limit
	OutcomeComplaint  = "complaint"    // the recipient was suppressed
	OutcomeSender     = "sender_issue" // a 5.7.x or similar: the relay's or reputation's problem; nobody suppressed
	OutcomeIgnored    = "ignored"      // delayed, delivered, not-spam: nothing to do
	OutcomeUnmatched  = "unmatched"    // no send found for it (no token, Message-ID unknown or expired, another recipient)
	OutcomeUnparsed   = "unparsed"     // not a DSN or ARF report
	OutcomeError      = "error"        // Redis failed; the report was not applied
)

// Metrics are the counters bounces and complaints add to, wherever they
// are heard: at send time, by the listener, by the provider webhooks.
type Metrics struct {
	Bounces    *prometheus.CounterVec // by type: hard, soft, soft_limit
	Complaints *prometheus.CounterVec // by storefront
	Reports    *prometheus.CounterVec // by source, kind (dsn, complaint, unknown) and outcome
}

// NewMetrics creates the counters and registers them with reg (nil: not
// registered). Create them once per process: the worker and the web
// server share them.
func NewMetrics(reg prometheus.Registerer) Metrics {
	m := Metrics{
		Bounces: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "basketassist_bounces_total", Help: "Bounces by type: hard, soft, soft_limit (a soft-bounce streak that suppressed the recipient).",
		}, []string{"type"}),
		Complaints: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "basketassist_complaints_total", Help: "Spam complaints heard from feedback loops and providers, by storefront.",
		}, []string{"storefront"}),
		Reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "basketassist_bounce_reports_total", Help: "Bounce and complaint reports received, by source (smtp, ses, sendgrid), kind and outcome.",
		}, []string{"source", "kind", "outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.Bounces, m.Complaints, m.Reports)
	}
	return m
}

// Applier maps reports to their sends and acts on them, the same for every
// source: a permanent failure suppresses globally as hard_bounce, a
// complaint as complaint, a temporary failure about the mailbox counts
// towards soft_limit, and a failure on the sending side suppresses nobody.
type Applier struct {
	SoftLimit    int // as bounces.soft_limit
	Keys         *secrets.Keys
	Sends        *basket.Store
	Suppressions *suppression.Store
	Logger       *slog.Logger
	Metrics      Metrics
	Now          func() time.Time // nil: time.Now
}

// Apply maps one report to its send and acts on it. addressedTo are the
// envelope recipients the report was delivered to (the listener's RCPT
// TO), if any. It returns the outcome, also counted. Its log lines carry
// the send's ids and the recipient hash, never an address or report text.
func (a *Applier) Apply(ctx context.Context, source string, addressedTo []string, rep *Report) string {
	outcome := a.apply(ctx, source, addressedTo, rep)
	a.Metrics.Reports.WithLabelValues(source, string(rep.Kind), outcome).Inc()
	return outcome
}

// Unparsed counts a report that could not be read at all.
func (a *Applier) Unparsed(source string) {
	a.Metrics.Reports.WithLabelValues(source, "unknown", OutcomeUnparsed).Inc()
}

func (a *Applier) apply(ctx context.Context, source string, addressedTo []string, rep *Report) string {
	log := a.logger().With("source", source, "kind", string(rep.Kind))
	sendKey, step, via := a.find(source, addressedTo, rep)
	if sendKey == "" {
		log.Info("bounce report matches no send; ignored")
		return OutcomeUnmatched
	}
	send, ok, err := a.Sends.SentTo(ctx, sendKey, step)
	if err == nil && !ok {
		log.Info("bounce report names a send no longer on record; ignored", "via", via)
		return OutcomeUnmatched
	}
	var rcpt secrets.Recipient
	if err == nil {
		rcpt, err = secrets.ParseRecipient(send.Recipient)
	}
	if err != nil {
		log.Error("bounce report could not be applied", "error", "send record unreadable or Redis unavailable")
		return OutcomeError
	}
	log = log.With("via", via, "storefront", send.Storefront, "basket_id", send.BasketID, "step", step,
		"recipient", rcpt.String())
	if !a.namesRecipient(rep, rcpt) {
		log.Warn("bounce report names another recipient than its send's; ignored")
		return OutcomeUnmatched
	}
	outcome, err := a.act(ctx, rep, send, sendKey, step, rcpt, log)
	if err != nil {
		log.Error("bounce report could not be applied", "error", "suppression not stored")
		return OutcomeError
	}
	a.record(ctx, send, step, outcome, log)
	return outcome
}

// find names the send a report is about: the signed return-path token the
// report was addressed to, else one in the returned headers, else the
// returned Message-ID, signed, or unsigned (ParseMessageID) when a
// provider's signed webhook vouches for it.
func (a *Applier) find(source string, addressedTo []string, rep *Report) (sendKey string, step int, via string) {
	for _, addr := range addressedTo {
		if k, s, ok := ParseReturnPath(a.Keys, addr); ok {
			return k, s, "return_path"
		}
	}
	if k, s, ok := ParseReturnPath(a.Keys, rep.ReturnPath); ok {
		return k, s, "returned_return_path"
	}
	if k, s, signed, ok := ParseMessageID(a.Keys, rep.MessageID); ok && (signed || source != SourceSMTP) {
		return k, s, "message_id"
	}
	return "", 0, ""
}

// namesRecipient checks the addresses a provider names against the send's
// recipient hash: a report that names someone else suppresses nobody.
// Reports without addresses (DSNs, whose Final-Recipient may be a
// forwarding target) are trusted by their token or Message-ID alone.
func (a *Applier) namesRecipient(rep *Report, rcpt secrets.Recipient) bool {
	if len(rep.Recipients) == 0 {
		return true
	}
	for _, addr := range rep.Recipients {
		if a.Keys.Recipient(addr) == rcpt {
			return true
		}
	}
	return false
}

func (a *Applier) act(ctx context.Context, rep *Report, send basket.Send, sendKey string, step int, rcpt secrets.Recipient, log *slog.Logger) (string, error) {
	m := a.Metrics
	if rep.Kind == Complaint {
		if rep.FeedbackType != "abuse" && rep.FeedbackType != "" {
			log.Info("feedback report is not a complaint; ignored", "feedback_type", rep.FeedbackType)
			return OutcomeIgnored, nil
		}
		if err := a.suppress(ctx, rcpt, suppression.Complaint); err != nil {
			return "", err
		}
		m.Complaints.WithLabelValues(send.Storefront).Inc()
		log.Warn("spam complaint: suppressing globally as complaint")
		return OutcomeComplaint, nil
	}
	outcome := OutcomeIgnored // only delays or deliveries
	for _, status := range rep.Statuses {
		class := rep.class(status)
		switch {
		case class == mail.HardBounce:
			if err := a.suppress(ctx, rcpt, suppression.HardBounce); err != nil {
				return "", err
			}
			m.Bounces.WithLabelValues("hard").Inc()
			log.Warn("late bounce: address cannot receive mail; suppressing globally as hard_bounce", "status", status)
			return OutcomeHardBounce, nil
		case class == mail.Temporary && mail.SoftBounceStatus(status):
			// Noted before it is counted: if the count then fails, the
			// redelivered report counts nothing, and a streak falls one
			// short rather than suppressing anyone early.
			first, err := a.Sends.FirstSoftBounce(ctx, sendKey, step)
			if err != nil {
				return "", err
			}
			if !first {
				// Neither counted nor recorded again: the basket's
				// record says it once, as the streak counts it once.
				log.Info("soft bounce of a send already counted; not counted again", "status", status)
				continue
			}
			outcome = OutcomeSoftBounce
			m.Bounces.WithLabelValues("soft").Inc()
			limited, err := a.Suppressions.SoftBounce(ctx, rcpt, a.SoftLimit)
			if err != nil {
				return "", err
			}
			if limited {
				m.Bounces.WithLabelValues("soft_limit").Inc()
				log.Warn("late soft bounce ends a streak: suppressing globally as soft_bounce", "status", status)
			}
		default:
			log.Error("late bounce for a reason on the sending side (relay, policy, reputation); nobody suppressed", "status", status)
			if outcome == OutcomeIgnored {
				outcome = OutcomeSender
			}
		}
	}
	return outcome, nil
}

// recorded is how each outcome appears in the basket's decision record.
var recorded = map[string]struct {
	outcome policy.Outcome
	reason  policy.Reason
}{
	OutcomeHardBounce: {policy.Bounced, policy.HardBounce},
	OutcomeSoftBounce: {policy.Bounced, policy.SoftBounce},
	OutcomeComplaint:  {policy.Complained, policy.Complaint},
	OutcomeSender:     {policy.Failed, policy.SenderRejected},
}

// record notes a report that did something in the basket's decision
// record, so that "why did they stop getting emails?" has an answer there.
func (a *Applier) record(ctx context.Context, send basket.Send, step int, outcome string, log *slog.Logger) {
	r, ok := recorded[outcome]
	if !ok {
		return
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	d := basket.Decision{At: now(), Step: step, Outcome: r.outcome, Reason: r.reason}
	if err := a.Sends.Record(ctx, send.Storefront, send.BasketID, d); err != nil {
		log.Warn("bounce report not recorded in the basket's decisions", "error", "Redis unavailable")
	}
}

func (a *Applier) suppress(ctx context.Context, rcpt secrets.Recipient, reason suppression.Reason) error {
	_, err := a.Suppressions.Add(ctx, suppression.Entry{Recipient: rcpt, Scope: suppression.All,
		Reason: reason, Origin: suppression.System})
	return err
}

func (a *Applier) logger() *slog.Logger {
	if a.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Logger
}
