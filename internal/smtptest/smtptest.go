// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp) on
// a loopback port for tests. It records every accepted message and can
// answer chosen replies at MAIL, RCPT or after the final dot, or drop the
// connection after the dot, to test retries, bounces and doubt.
package smtptest

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is one accepted message.
type Message struct {
	From string
	Body smtp.BodyType // MAIL's BODY= parameter ("" when not given)
	To   []string
	Data []byte
}

// Parsed parses the message's headers and body.
func (m Message) Parsed(t testing.TB) *mail.Message {
	t.Helper()
	pm, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("smtptest: parse message: %v", err)
	}
	return pm
}

// Server is a recording SMTP server.
type Server struct {
	Addr string // host:port
	Host string
	Port int

	mu       sync.Mutex
	msgs     []Message
	faults   []Fault // scripted failures, used in order as their stage comes
	sessions int
	changed  chan struct{} // closed and replaced whenever msgs grows
	stop     func() error
	conns    []*smtp.Conn
	hold     chan struct{} // when set, DATA waits for it to be closed
	held     chan struct{} // signalled when a DATA starts waiting
}

// HoldData makes the next DATA commands wait until release is called, and
// returns a channel that receives once a DATA is waiting: a send in flight.
func (s *Server) HoldData() (waiting <-chan struct{}, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hold, held := make(chan struct{}), make(chan struct{}, 16)
	s.hold, s.held = hold, held
	return held, func() { close(hold) }
}

// Start runs a server until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	s := &Server{Addr: l.Addr().String(), Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, changed: make(chan struct{})}
	srv := smtp.NewServer(s)
	srv.Domain = "smtptest.local"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	go func() { _ = srv.Serve(l) }()
	s.stop = srv.Close
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// CloseIdle ends every open session as a server's idle timeout does: it
// writes "421 4.4.2 Idle timeout" and closes the connection.
func (s *Server) CloseIdle() {
	s.mu.Lock()
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for _, c := range conns {
		_, _ = c.Conn().Write([]byte("421 4.4.2 smtptest.local Idle timeout, bye bye\r\n"))
		_ = c.Conn().Close()
	}
}

// Stop closes the server and its connections, as a crashed mail server would.
func (s *Server) Stop() { _ = s.stop() }

// Stages at which a Fault strikes.
const (
	AtMail = "mail"
	AtRcpt = "rcpt"
	AtDot  = "dot"  // the reply to the final dot: the message is refused
	DropAt = "drop" // after the final dot the connection is closed unanswered; the message is kept
)

// Fault is one scripted failure: at Stage, reply Code with Enhanced and Text.
type Fault struct {
	Stage    string
	Code     int
	Enhanced smtp.EnhancedCode
	Text     string
}

// Fail queues faults; each is used once, by the next command of its stage.
func (s *Server) Fail(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, faults...)
}

// FailRecipients makes the next RCPT commands fail, one per code given:
// 4xx as 4.2.0 "try again later", 5xx as 5.1.1 "mailbox unavailable".
func (s *Server) FailRecipients(codes ...int) {
	for _, code := range codes {
		f := Fault{Stage: AtRcpt, Code: code, Enhanced: smtp.EnhancedCode{5, 1, 1}, Text: "Mailbox unavailable"}
		if code < 500 {
			f.Enhanced, f.Text = smtp.EnhancedCode{4, 2, 0}, "Try again later"
		}
		s.Fail(f)
	}
}

// next takes the first queued fault of stage, if any.
func (s *Server) next(stage string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Stage == stage {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
			return &f
		}
	}
	return nil
}

func (f *Fault) err() error {
	return &smtp.SMTPError{Code: f.Code, EnhancedCode: f.Enhanced, Message: f.Text}
}

// Messages returns the messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Sessions returns how many SMTP connections were opened.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// WaitFor waits until at least n messages were accepted and returns them,
// failing the test after timeout.
func (s *Server) WaitFor(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		msgs, changed := append([]Message(nil), s.msgs...), s.changed
		s.mu.Unlock()
		if len(msgs) >= n {
			return msgs
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("smtptest: got %d messages within %s, want %d", len(msgs), timeout, n)
		}
	}
}

// NewSession implements smtp.Backend.
func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	s.sessions++
	s.conns = append(s.conns, c)
	s.mu.Unlock()
	return &session{srv: s, conn: c}, nil
}

type session struct {
	srv  *Server
	conn *smtp.Conn
	from string
	body smtp.BodyType
	to   []string
}

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	if f := ss.srv.next(AtMail); f != nil {
		return f.err()
	}
	ss.from, ss.body = from, ""
	if opts != nil {
		ss.body = opts.Body
	}
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if f := ss.srv.next(AtRcpt); f != nil {
		return f.err()
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s := ss.srv
	s.mu.Lock()
	hold, held := s.hold, s.held
	s.mu.Unlock()
	if hold != nil {
		held <- struct{}{}
		<-hold
	}
	if f := s.next(AtDot); f != nil {
		return f.err()
	}
	s.mu.Lock()
	s.msgs = append(s.msgs, Message{From: ss.from, Body: ss.body, To: ss.to, Data: b})
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	if f := s.next(DropAt); f != nil {
		_ = ss.conn.Conn().Close() // the message is ours; the client never hears so
		return errors.New("smtptest: connection dropped after the final dot")
	}
	return nil
}

func (ss *session) Reset() { ss.from, ss.body, ss.to = "", "", nil }

func (ss *session) Logout() error { return nil }

// Header returns a header of m, unfolded.
func Header(m *mail.Message, name string) string {
	return strings.Join(strings.Fields(m.Header.Get(name)), " ")
}
