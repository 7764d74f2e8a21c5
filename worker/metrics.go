package worker

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/basketassist/basketassist/bounce"
)

// Metrics are the worker's Prometheus counters.
type Metrics struct {
	Events *prometheus.CounterVec // by type and outcome (applied, duplicate, ignored)
	Sent   *prometheus.CounterVec // by storefront and step
	// Reminders counts every finished reminder task by outcome: sent,
	// dropped, suppressed, bounced, in_doubt, failed; retry and deferred
	// count attempts that will run again.
	Reminders *prometheus.CounterVec
	Skipped   *prometheus.CounterVec // by reason
	Deferred  *prometheus.CounterVec // by reason (policy.Reason): put off, not dropped
	SMTPErrs  *prometheus.CounterVec // by class and stage
	// PolicyRejections counts refusals that are the sender's problem (relay,
	// auth, policy, reputation): ops must look at the relay, not the recipient.
	PolicyRejections prometheus.Counter
	// Bounces counts bounces by type (bounce.Metrics, shared with the
	// listener and the webhooks).
	Bounces *prometheus.CounterVec
}

// Reminder outcomes, the values of basketassist_reminders_total{outcome}.
const (
	OutcomeSent       = "sent"
	OutcomeDropped    = "dropped"
	OutcomeSuppressed = "suppressed"
	OutcomeBounced    = "bounced"
	OutcomeInDoubt    = "in_doubt"
	OutcomeFailed     = "failed"
	OutcomeRetry      = "retry"
	OutcomeDeferred   = "deferred"
	OutcomeWouldSend  = "would_send" // policy.dry_run
)

// NewMetrics creates the counters and registers them with reg (nil: not
// registered); the bounce counters come from bounce.NewMetrics.
func NewMetrics(reg prometheus.Registerer, bounces bounce.Metrics) *Metrics {
	m := &Metrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "basketassist_events_total", Help: "Storefront events processed, by type and outcome.",
		}, []string{"type", "outcome"}),
		Sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "basketassist_emails_sent_total", Help: "Reminder emails accepted by SMTP, by storefront and step.",
		}, []string{"storefront", "step"}),
		Reminders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "basketassist_reminders_total", Help: "Reminder attempts by outcome (sent, dropped, suppressed, bounced, in_doubt, failed, retry, deferred).",
		}, []string{"outcome"}),
		Skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "basketassist_reminders_skipped_total", Help: "Reminders not sent, by reason.",
		}, []string{"reason"}),
		Deferred: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "basketassist_reminders_deferred_total", Help: "Reminders put off to a later instant, by reason (quiet_hours, frequency_cap, not_due, handing_over).",
		}, []string{"reason"}),
		SMTPErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "basketassist_smtp_errors_total", Help: "Failed SMTP sends, by class and stage.",
		}, []string{"class", "stage"}),
		PolicyRejections: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "basketassist_smtp_policy_rejections_total", Help: "SMTP refusals that are the sender's problem (relay, auth, policy, reputation); nobody was suppressed.",
		}),
		Bounces: bounces.Bounces,
	}
	if reg != nil {
		reg.MustRegister(m.Events, m.Sent, m.Reminders, m.Skipped, m.Deferred, m.SMTPErrs, m.PolicyRejections)
	}
	return m
}
