package worker

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the worker's Prometheus counters.
type Metrics struct {
	Events   *prometheus.CounterVec // by type and outcome (applied, duplicate, ignored)
	Sent     *prometheus.CounterVec // by storefront and step
	Skipped  *prometheus.CounterVec // by reason
	SMTPErrs *prometheus.CounterVec // by class
}

// NewMetrics creates the counters and registers them with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "basketassist_events_total", Help: "Storefront events processed, by type and outcome.",
		}, []string{"type", "outcome"}),
		Sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "basketassist_emails_sent_total", Help: "Reminder emails handed to SMTP, by storefront and step.",
		}, []string{"storefront", "step"}),
		Skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "basketassist_reminders_skipped_total", Help: "Reminders not sent, by reason.",
		}, []string{"reason"}),
		SMTPErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "basketassist_smtp_errors_total", Help: "Failed SMTP sends, by class.",
		}, []string{"class"}),
	}
	if reg != nil {
		reg.MustRegister(m.Events, m.Sent, m.Skipped, m.SMTPErrs)
	}
	return m
}
