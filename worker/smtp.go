package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// SMTPOptions configures an SMTPSender. Zero values mean: port 25, no TLS,
// no authentication, 4 connections, 30 s timeout.
type SMTPOptions struct {
	Host        string
	Port        int
	Username    string
	Password    string
	TLS         string // "none", "starttls", "opportunistic" or "tls" (implicit TLS)
	Connections int
	Timeout     time.Duration
	// DKIM signs every message when set (see NewDKIMSigner).
	DKIM *gomail.DKIMSigner
}

// SMTPSender sends over a small pool of SMTP connections that stay open
// between messages, so a busy worker does not pay a TCP and EHLO handshake
// per email.
type SMTPSender struct {
	client *gomail.Client
	slots  chan *smtp.Client // one slot per allowed connection; nil = not connected
	dkim   *gomail.DKIMSigner
}

var _ Sender = (*SMTPSender)(nil)

// NewSMTPSender returns a sender; it connects lazily, on the first Send.
func NewSMTPSender(o SMTPOptions) (*SMTPSender, error) {
	if o.Port == 0 {
		o.Port = 25
	}
	if o.Connections <= 0 {
		o.Connections = 4
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	opts := []gomail.Option{gomail.WithPort(o.Port), gomail.WithTimeout(o.Timeout)}
	switch o.TLS {
	case "", "none":
		opts = append(opts, gomail.WithTLSPortPolicy(gomail.NoTLS))
	case "starttls":
		opts = append(opts, gomail.WithTLSPortPolicy(gomail.TLSMandatory))
	case "opportunistic":
		opts = append(opts, gomail.WithTLSPortPolicy(gomail.TLSOpportunistic))
	case "tls":
		opts = append(opts, gomail.WithSSLPort(false))
	default:
		return nil, fmt.Errorf("smtp: unknown tls mode %q", o.TLS)
	}
	if o.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(o.Username), gomail.WithPassword(o.Password))
	}
	c, err := gomail.NewClient(o.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp client: %w", err)
	}
	s := &SMTPSender{client: c, slots: make(chan *smtp.Client, o.Connections), dkim: o.DKIM}
	for range o.Connections {
		s.slots <- nil
	}
	return s, nil
}

// Send delivers m. It waits for a free connection (or ctx), dials if needed,
// and returns a *SendError on failure.
func (s *SMTPSender) Send(ctx context.Context, m *Message) error {
	msg, err := buildMsg(m, s.dkim)
	if err != nil {
		return &SendError{Class: Rejected, Err: err}
	}
	var conn *smtp.Client
	select {
	case conn = <-s.slots:
	case <-ctx.Done():
		return &SendError{Class: Temporary, Err: ctx.Err()}
	}
	keep := false
	defer func() {
		if !keep && conn != nil {
			_ = conn.Close()
			conn = nil
		}
		s.slots <- conn
	}()

	for attempt := 0; ; attempt++ {
		fresh := conn == nil
		if fresh {
			if conn, err = s.client.DialToSMTPClientWithContext(ctx); err != nil {
				conn = nil
				return &SendError{Class: Temporary, Code: smtpCode(err), Err: fmt.Errorf("connect: %w", err)}
			}
		}
		err = s.client.SendWithSMTPClient(conn, msg)
		if err == nil || msg.IsDelivered() {
			// A failure after delivery (e.g. the RSET that follows) is the
			// connection's problem, not the message's.
			keep = err == nil
			return nil
		}
		var se *gomail.SendError
		if errors.As(err, &se) && se.Reason == gomail.ErrConnCheck && !fresh && attempt == 0 {
			// The pooled connection went stale while idle: nothing was sent, dial again.
			_ = conn.Close()
			conn = nil
			continue
		}
		failure := classify(err)
		keep = failure.Code != 0 // the server answered, so the session is still usable
		return failure
	}
}

// Close quits every open connection, waiting for sends in flight. Quitting
// an idle connection is best effort: if the server has already gone, there
// is nothing left to close and shutdown must not fail for it.
func (s *SMTPSender) Close() error {
	for range cap(s.slots) {
		if conn := <-s.slots; conn != nil {
			if err := s.client.CloseWithSMTPClient(conn); err != nil {
				_ = conn.Close()
			}
		}
	}
	return nil
}

// classify maps go-mail's error to a FailureClass by the server's reply code.
// go-mail's own IsTemp looks only at the first character of the error text,
// which calls a network error permanent; a reply code is what really counts.
func classify(err error) *SendError {
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return &SendError{Class: Temporary, Err: err}
	}
	code := se.ErrorCode()
	switch {
	case code >= 400 && code < 500:
		return &SendError{Class: Temporary, Code: code, Err: err}
	case code >= 500 && se.Reason == gomail.ErrSMTPRcptTo:
		return &SendError{Class: RecipientRejected, Code: code, Err: err}
	case code >= 500:
		return &SendError{Class: Rejected, Code: code, Err: err}
	case se.Reason == gomail.ErrWriteContent || se.Reason == gomail.ErrSMTPDataClose:
		// No reply code after DATA began: the server may have the message.
		return &SendError{Class: InDoubt, Err: err}
	default:
		return &SendError{Class: Temporary, Err: err}
	}
}

func smtpCode(err error) int {
	var se *gomail.SendError
	if errors.As(err, &se) {
		return se.ErrorCode()
	}
	return 0
}

// buildMsg turns m into a go-mail message: multipart/alternative, no
// User-Agent or X-Mailer, DKIM-signed when dkim is set.
func buildMsg(m *Message, dkim *gomail.DKIMSigner) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if dkim != nil {
		msg.SetDKIM(dkim)
	}
	if err := msg.FromFormat(m.From.Name, m.From.Address); err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	if err := msg.AddToFormat(m.To.Name, m.To.Address); err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetDateWithValue(m.Date)
	msg.SetMessageIDWithValue(m.MessageID)
	msg.SetGenHeader(gomail.Header("List-Id"), m.ListID)
	msg.SetListUnsubscribe(m.Unsubscribe)
	msg.SetListUnsubscribePost()
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	if m.Lang != "" {
		msg.SetGenHeader(gomail.Header("Content-Language"), m.Lang)
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	return msg, nil
}
