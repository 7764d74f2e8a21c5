package bounce

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/mail"
	"github.com/basketassist/basketassist/secrets"
	"github.com/basketassist/basketassist/suppression"
)

// Options configure the listener.
type Options struct {
	Domains      []string // mail for these is accepted; anything else is refused at RCPT
	MaxBytes     int64    // larger reports are refused (552); default 1 MiB
	SoftLimit    int      // as bounces.soft_limit
	Keys         *secrets.Keys
	Sends        *basket.Store
	Suppressions *suppression.Store
	Logger       *slog.Logger
	Metrics      Metrics
}

// Metrics are the counters the listener adds to.
type Metrics struct {
	Bounces    *prometheus.CounterVec // by type: hard, soft, soft_limit
	Complaints *prometheus.CounterVec // by storefront
	Reports    *prometheus.CounterVec // by kind (dsn, complaint, unknown) and outcome
}

// Report outcomes, the values of basketassist_bounce_reports_total{outcome}.
const (
	OutcomeHardBounce = "hard_bounce"  // the recipient was suppressed
	OutcomeSoftBounce = "soft_bounce"  // counted towards bounces.soft_limit
	OutcomeComplaint  = "complaint"    // the recipient was suppressed
	OutcomeSender     = "sender_issue" // a 5.7.x or similar: the relay's or reputation's problem; nobody suppressed
	OutcomeIgnored    = "ignored"      // delayed, delivered, not-spam: nothing to do
	OutcomeUnmatched  = "unmatched"    // no send found for it (no token, Message-ID unknown or expired)
	OutcomeUnparsed   = "unparsed"     // not a DSN or ARF report
	OutcomeError      = "error"        // Redis failed; the report was accepted and is lost
)

// Listener is an SMTP server for the bounce domains.
type Listener struct {
	srv *smtp.Server
	ln  net.Listener
}

// Listen starts the listener on addr.
func Listen(addr string, o Options) (*Listener, error) {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 1 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	h := &handler{o: o, domains: map[string]bool{}}
	for _, d := range o.Domains {
		h.domains[strings.ToLower(d)] = true
	}
	srv := smtp.NewServer(h)
	if len(o.Domains) > 0 {
		srv.Domain = o.Domains[0]
	}
	srv.MaxMessageBytes = o.MaxBytes
	srv.MaxRecipients = 10
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	l := &Listener{srv: srv, ln: ln}
	go func() { _ = srv.Serve(ln) }()
	return l, nil
}

// Addr is where the listener listens.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Close stops the listener and its sessions.
func (l *Listener) Close() error { return l.srv.Close() }

type handler struct {
	o       Options
	domains map[string]bool
}

// NewSession implements smtp.Backend.
func (h *handler) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{h: h}, nil }

type session struct {
	h     *handler
	rcpts []string
}

// Mail accepts any sender: DSNs come from the null sender <>.
func (s *session) Mail(string, *smtp.MailOptions) error { return nil }

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	_, domain, _ := strings.Cut(to, "@")
	if !s.h.domains[strings.ToLower(domain)] {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Not a bounce domain of this server"}
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	err := s.h.handle(context.Background(), s.rcpts, r)
	if errors.Is(err, smtp.ErrDataTooLarge) {
		return err
	}
	return nil // accepted whatever it was: a bounce is never bounced back
}

func (s *session) Reset()        { s.rcpts = nil }
func (s *session) Logout() error { return nil }

// handle maps one report to its send and acts on it. Its log lines carry
// the send's ids and the recipient hash, never an address or report text.
func (h *handler) handle(ctx context.Context, rcpts []string, r io.Reader) error {
	log, m := h.o.Logger, h.o.Metrics
	w := &sizeWatch{r: r}
	rep, err := Parse(w)
	_, _ = io.Copy(io.Discard, w)
	if w.tooLarge {
		m.Reports.WithLabelValues("unknown", OutcomeUnparsed).Inc()
		log.Warn("bounce report refused: over the size limit", "max_bytes", h.o.MaxBytes)
		return smtp.ErrDataTooLarge
	}
	if err != nil {
		m.Reports.WithLabelValues("unknown", OutcomeUnparsed).Inc()
		log.Info("mail to the bounce domain is not a report; ignored", "why", reason(err))
		return nil
	}
	kind := string(rep.Kind)
	sendKey, step, via := h.find(rcpts, rep)
	if sendKey == "" {
		m.Reports.WithLabelValues(kind, OutcomeUnmatched).Inc()
		log.Info("bounce report matches no send; ignored", "kind", kind)
		return nil
	}
	send, ok, err := h.o.Sends.SentTo(ctx, sendKey)
	if err == nil && !ok {
		m.Reports.WithLabelValues(kind, OutcomeUnmatched).Inc()
		log.Info("bounce report names a send no longer on record; ignored", "kind", kind, "via", via)
		return nil
	}
	var rcpt secrets.Recipient
	if err == nil {
		rcpt, err = secrets.ParseRecipient(send.Recipient)
	}
	if err != nil {
		m.Reports.WithLabelValues(kind, OutcomeError).Inc()
		log.Error("bounce report could not be applied", "kind", kind, "error", "send record unreadable or Redis unavailable")
		return nil
	}
	log = log.With("kind", kind, "via", via, "storefront", send.Storefront, "basket_id", send.BasketID, "step", step,
		"recipient", rcpt.String())
	outcome, err := h.apply(ctx, rep, send, rcpt, log)
	if err != nil {
		outcome = OutcomeError
		log.Error("bounce report could not be applied", "error", "suppression not stored")
	}
	m.Reports.WithLabelValues(kind, outcome).Inc()
	return nil
}

// find names the send a report is about: the signed return-path token the
// report was addressed to, else one in the returned headers, else the
// returned Message-ID.
func (h *handler) find(rcpts []string, rep *Report) (sendKey string, step int, via string) {
	for _, a := range rcpts {
		if k, s, ok := ParseReturnPath(h.o.Keys, a); ok {
			return k, s, "return_path"
		}
	}
	if k, s, ok := ParseReturnPath(h.o.Keys, rep.ReturnPath); ok {
		return k, s, "returned_return_path"
	}
	if k, s, ok := ParseMessageID(rep.MessageID); ok {
		return k, s, "message_id"
	}
	return "", 0, ""
}

func (h *handler) apply(ctx context.Context, rep *Report, send basket.Send, rcpt secrets.Recipient, log *slog.Logger) (string, error) {
	m := h.o.Metrics
	if rep.Kind == Complaint {
		if rep.FeedbackType != "abuse" && rep.FeedbackType != "" {
			log.Info("feedback report is not a complaint; ignored", "feedback_type", rep.FeedbackType)
			return OutcomeIgnored, nil
		}
		if _, err := h.o.Suppressions.Add(ctx, suppression.Entry{Recipient: rcpt, Scope: suppression.All,
			Reason: suppression.Complaint, Origin: suppression.System}); err != nil {
			return "", err
		}
		m.Complaints.WithLabelValues(send.Storefront).Inc()
		log.Warn("spam complaint: suppressing globally as complaint")
		return OutcomeComplaint, nil
	}
	outcome := OutcomeIgnored // only delays or deliveries
	for _, status := range rep.Statuses {
		switch mail.ClassifyStatus(status) {
		case mail.HardBounce:
			if _, err := h.o.Suppressions.Add(ctx, suppression.Entry{Recipient: rcpt, Scope: suppression.All,
				Reason: suppression.HardBounce, Origin: suppression.System}); err != nil {
				return "", err
			}
			m.Bounces.WithLabelValues("hard").Inc()
			log.Warn("late bounce: address cannot receive mail; suppressing globally as hard_bounce", "status", status)
			return OutcomeHardBounce, nil
		case mail.Temporary:
			m.Bounces.WithLabelValues("soft").Inc()
			limited, err := h.o.Suppressions.SoftBounce(ctx, rcpt, h.o.SoftLimit)
			if err != nil {
				return "", err
			}
			if limited {
				m.Bounces.WithLabelValues("soft_limit").Inc()
				log.Warn("late soft bounce ends a streak: suppressing globally as soft_bounce", "status", status)
			}
			outcome = OutcomeSoftBounce
		default:
			log.Error("late bounce for a reason on the sending side (relay, policy, reputation); nobody suppressed", "status", status)
			if outcome == OutcomeIgnored {
				outcome = OutcomeSender
			}
		}
	}
	return outcome, nil
}

// sizeWatch notes when go-smtp cut the message at MaxMessageBytes, however
// the parser reported it.
type sizeWatch struct {
	r        io.Reader
	tooLarge bool
}

func (w *sizeWatch) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if errors.Is(err, smtp.ErrDataTooLarge) {
		w.tooLarge = true
	}
	return n, err
}

// reason names a parse failure in fixed words.
func reason(err error) string {
	if errors.Is(err, ErrNotAReport) {
		return "not a report"
	}
	return "malformed"
}
