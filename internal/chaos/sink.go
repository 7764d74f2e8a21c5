package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// sinkFaults says how often the sink misbehaves, per transaction.
type sinkFaults struct {
	TempFail float64 // 451 at MAIL, RCPT or the final dot, the text naming an address
	Drop     float64 // keep the message, then close the connection unanswered
}

// delivery is one transaction the sink saw reach its final dot and keep:
// the recipient got this email, whatever the client heard.
type delivery struct {
	Rcpt    string
	MailAt  time.Time // when MAIL FROM arrived: before the sender's hand-over
	Dropped bool      // the client was never told (connection closed)
}

// sink is an SMTP server on loopback that records, per recipient, every
// message it kept, and fails on purpose as configured. Its replies put the
// recipient's address in their text, as real servers do, so that a leak of
// server text into logs or Redis shows up in the scan.
type sink struct {
	srv *smtp.Server
	ln  net.Listener

	mu        sync.Mutex
	faults    sinkFaults
	rng       *rand.Rand
	delivered map[string][]delivery // by Message-ID
	fails     map[string]int        // faults given at RCPT or the dot, by recipient
	tempFails int
	drops     int
}

func startSink(seed uint64) (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{ln: ln, rng: rand.New(rand.NewPCG(seed, 2)), delivered: map[string][]delivery{}, fails: map[string]int{}}
	s.srv = smtp.NewServer(s)
	s.srv.Domain = "sink.chaos.test"
	s.srv.ReadTimeout = time.Minute
	s.srv.WriteTimeout = time.Minute
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *sink) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *sink) setFaults(f sinkFaults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

func (s *sink) close() { _ = s.srv.Close() }

// maxFailsPerRecipient bounds the faults one recipient meets at RCPT and
// the dot, as a real server's transient trouble passes: without it, 20 %
// random failures give some reminder a tail of retries doubling for hours.
const maxFailsPerRecipient = 3

// planMail decides at MAIL whether to refuse it: a third of the 451s.
func (s *sink) planMail() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rng.Float64() < s.faults.TempFail/3
}

// planRcpt decides at RCPT what the rest of the transaction suffers: the
// other two thirds of the 451s (at RCPT or the final dot) or a drop.
func (s *sink) planRcpt(to string) (failAt string, drop bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rng.Float64()
	switch {
	case r < s.faults.TempFail*2/3:
		if s.fails[to] >= maxFailsPerRecipient {
			return "", false
		}
		s.fails[to]++
		return []string{"rcpt", "dot"}[s.rng.IntN(2)], false
	case r < s.faults.TempFail*2/3+s.faults.Drop:
		return "", true
	}
	return "", false
}

func (s *sink) keep(messageID string, d delivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delivered[messageID] = append(s.delivered[messageID], d)
	if d.Dropped {
		s.drops++
	}
}

// tempFail counts and returns a 451 whose text is given.
func (s *sink) tempFail(text string) error {
	s.mu.Lock()
	s.tempFails++
	s.mu.Unlock()
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: text}
}

func (s *sink) snapshot() (delivered map[string][]delivery, tempFails, drops int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delivered = make(map[string][]delivery, len(s.delivered))
	for k, v := range s.delivered {
		delivered[k] = append([]delivery(nil), v...)
	}
	return delivered, s.tempFails, s.drops
}

// NewSession implements smtp.Backend.
func (s *sink) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &sinkSession{sink: s, conn: c}, nil
}

type sinkSession struct {
	sink   *sink
	conn   *smtp.Conn
	mailAt time.Time
	failAt string
	drop   bool
	rcpt   string
	last   string // the previous recipient on this connection
}

func (ss *sinkSession) Mail(string, *smtp.MailOptions) error {
	ss.mailAt = time.Now()
	if ss.sink.planMail() {
		return ss.sink.tempFail(fmt.Sprintf("Try again later; queue full after <%s>", ss.last))
	}
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.failAt, ss.drop = ss.sink.planRcpt(to)
	if ss.failAt == "rcpt" {
		return ss.sink.tempFail(fmt.Sprintf("<%s>: Recipient address rejected: greylisted", to))
	}
	ss.rcpt = to
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	msg, err := netmail.ReadMessage(r)
	if err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, msg.Body); err != nil {
		return err
	}
	id := strings.Trim(msg.Header.Get("Message-Id"), "<> ")
	if ss.failAt == "dot" {
		return ss.sink.tempFail(fmt.Sprintf("affected recipient(s): <%s>: try again later", ss.rcpt))
	}
	// The message is ours from here: a real server queues it before it
	// answers, so a client that dies now still delivered it.
	ss.sink.keep(id, delivery{Rcpt: ss.rcpt, MailAt: ss.mailAt, Dropped: ss.drop})
	if ss.drop {
		_ = ss.conn.Conn().Close()
		return fmt.Errorf("connection dropped after the final dot")
	}
	// A slow answer to the final dot widens the window in which a crash
	// leaves a delivered message unconfirmed, as a busy relay does.
	time.Sleep(200 * time.Millisecond)
	return nil
}

func (ss *sinkSession) Reset() {
	if ss.rcpt != "" {
		ss.last = ss.rcpt
	}
	ss.rcpt, ss.failAt, ss.drop = "", "", false
}

func (ss *sinkSession) Logout() error { return nil }
