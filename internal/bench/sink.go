package main

import (
	"bytes"
	"io"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// sink is the SMTP server both sides send to: it reads every message to
// the end and notes when each recipient's arrived and how big it was.
type sink struct {
	srv *smtp.Server
	ln  net.Listener

	mu       sync.Mutex
	arrived  map[string]time.Time // by recipient, the first arrival
	count    int
	bytes    int64
	notify   chan struct{} // closed when count reaches want
	want     int
	received []time.Time
}

func startSink() (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{ln: ln}
	s.reset(0)
	s.srv = smtp.NewServer(s)
	s.srv.Domain = "sink.bench.test"
	s.srv.ReadTimeout, s.srv.WriteTimeout = time.Minute, time.Minute
	s.srv.MaxMessageBytes = 10 << 20
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *sink) port() int { return s.ln.Addr().(*net.TCPAddr).Port }
func (s *sink) close()    { _ = s.srv.Close() }

// reset forgets what arrived and arms done for want messages.
func (s *sink) reset(want int) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.arrived, s.count, s.bytes, s.want = map[string]time.Time{}, 0, 0, want
	s.notify = make(chan struct{})
	return s.notify
}

func (s *sink) stats() (count int, avgBytes int64, arrived map[string]time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.count > 0 {
		avgBytes = s.bytes / int64(s.count)
	}
	return s.count, avgBytes, s.arrived
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{sink: s}, nil }

type session struct {
	sink *sink
	rcpt string
	buf  bytes.Buffer
}

func (ss *session) Mail(string, *smtp.MailOptions) error { return nil }
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.rcpt = to
	return nil
}

func (ss *session) Data(r io.Reader) error {
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		return err
	}
	now := time.Now()
	s := ss.sink
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, seen := s.arrived[ss.rcpt]; !seen {
		s.arrived[ss.rcpt] = now
	}
	s.count++
	s.bytes += n
	if s.count == s.want {
		close(s.notify)
	}
	return nil
}

func (ss *session) Reset()        { ss.rcpt = "" }
func (ss *session) Logout() error { return nil }
