package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
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
	// Timeout bounds dialing and each message's whole conversation.
	Timeout time.Duration
	// DKIM signs every message when set (see NewDKIMSigner).
	DKIM *gomail.DKIMSigner
}

// SMTPSender sends over a small pool of SMTP connections that stay open
// between messages, so a busy worker does not pay a TCP and EHLO handshake
// per email. go-mail dials, says EHLO, starts TLS and authenticates; the
// transaction itself (MAIL, RCPT, DATA, body, final dot) is stepped through
// here, because the caller must get the last word just before the dot.
type SMTPSender struct {
	client  *gomail.Client
	slots   chan *conn // one slot per allowed connection; nil = not connected
	dkim    *gomail.DKIMSigner
	timeout time.Duration
	// no8bit says whether the connection dialled last found the relay
	// without 8BITMIME: messages are then rendered with every part
	// quoted-printable from the start.
	no8bit atomic.Bool
}

// conn is one pooled SMTP connection.
type conn struct {
	c          *smtp.Client
	pipelining bool // the server offers RFC 2920 PIPELINING
	eightBit   bool // the server offers RFC 6152 8BITMIME
	used       bool // it has carried a transaction (so it may have gone stale while idle)
	broken     bool // the session is out of step and must not carry another message
	// replied is closed once the last transaction begun on the connection
	// has read every reply it will read: the next one reads its own after
	// that. With pipelining a transaction hands the connection on as soon
	// as its final dot is written, so the next envelope follows the dot in
	// the same flight (RFC 2920 3.1) while the dot's reply is on its way.
	replied chan struct{}
}

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
	s := &SMTPSender{client: c, slots: make(chan *conn, o.Connections), dkim: o.DKIM, timeout: o.Timeout}
	for range o.Connections {
		s.slots <- nil
	}
	return s, nil
}

// wireBuffers holds the buffers messages are written into for Send, which
// are garbage once the server has the message: a reminder's 7 KB was an
// eighth of the bytes the service allocated while sending
// (scripts/bench.sh --cpuprofile, its allocs profile).
var wireBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// maxPooledWire is the largest buffer kept for reuse: a message with big
// parts does not pin its buffer for the rest of the process's life.
const maxPooledWire = 64 << 10

// errStale is a pooled connection found dead at the first command: nothing
// was sent on it, so the message may go over a fresh one.
var errStale = errors.New("mail: pooled connection went stale")

// Send delivers m. It renders the message, waits for a free connection (or
// ctx), dials if needed, and steps through the transaction; handOver is
// called just before the final dot (see HandOver). It returns nil when the
// server accepted the message, handOver's error when that refused, and a
// *SendError otherwise. A stale pooled connection is replaced silently,
// without the NOOP probe that would cost a round trip per message.
func (s *SMTPSender) Send(ctx context.Context, m *Message, handOver HandOver) error {
	// Written once, straight in wire format with the end of data: the
	// transaction only writes it out.
	buf := wireBuffers.Get().(*[]byte)
	wire := wireWriter{out: (*buf)[:0]}
	defer func() {
		if cap(wire.out) <= maxPooledWire {
			*buf = wire.out
			wireBuffers.Put(buf)
		}
	}()
	var data []byte
	var eightBit bool
	renderWire := func(unencoded bool) (err error) {
		wire.out = wire.out[:0]
		if eightBit, err = render(m, s.dkim, &wire, unencoded); err == nil {
			wire.out = append(wire.finish(), ".\r\n"...)
			data = wire.out
		}
		return err
	}
	// Unencoded parts unless the relay was last found without 8BITMIME; a
	// connection that turns out not to offer it renders again.
	err := renderWire(!s.no8bit.Load())
	if err != nil {
		return err
	}
	var cn *conn
	select {
	case cn = <-s.slots:
	case <-ctx.Done():
		return reduce(StageConnect, ctx.Err())
	}
	handedOn := false // the slot went back once the dot was written (transact)
	defer func() {
		if !handedOn {
			s.slots <- cn
		}
	}()
	for {
		fresh := cn == nil
		if fresh {
			if cn, err = s.dial(ctx); err != nil {
				return err
			}
		}
		if eightBit && !cn.eightBit {
			if err = renderWire(false); err != nil {
				return err
			}
		}
		held := cn
		err = s.transact(ctx, cn, m, data, eightBit, handOver, func() { handedOn = true; s.slots <- held })
		if handedOn {
			return err // the connection is the next transaction's now; transact closed it if it broke
		}
		if errors.Is(err, errStale) && !fresh {
			cn.close()
			cn = nil
			continue
		}
		var se *SendError
		if cn.broken || err != nil && (!errors.As(err, &se) || se.Code == 0) {
			// No reply, or the caller refused in mid-DATA: the session
			// cannot carry another message.
			cn.close()
			cn = nil
		}
		return err
	}
}

func (s *SMTPSender) dial(ctx context.Context) (*conn, error) {
	c, err := s.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return nil, reduce(StageConnect, err)
	}
	pipelining, _ := c.Extension("PIPELINING")
	eightBit, _ := c.Extension("8BITMIME")
	s.no8bit.Store(!eightBit)
	return &conn{c: c, pipelining: pipelining, eightBit: eightBit}, nil
}

func (cn *conn) close() { _ = cn.c.Close() }

// transact sends one message on cn. Failures with a reply code leave the
// session reset and reusable; others must close it. With pipelining it
// calls handOn once the final dot is written and then reads the dot's reply
// while the next transaction writes its envelope; if that reply never
// comes it closes the connection itself, before the next transaction may
// read from it, so that no late reply is taken for another's.
// data is the message in wire format followed by the end of data
// (".\r\n"); eightBit declares it BODY=8BITMIME (RFC 6152).
func (s *SMTPSender) transact(ctx context.Context, cn *conn, m *Message, data []byte, eightBit bool, handOver HandOver, handOn func()) error {
	prev, mine := cn.replied, make(chan struct{})
	cn.replied = mine
	defer close(mine)
	wasUsed := cn.used
	cn.used = true
	if err := cn.c.UpdateDeadline(s.timeout); err != nil {
		if wasUsed {
			return errStale // closed after the previous message's dot went unanswered
		}
		return reduce(StageConnect, err)
	}
	from := m.ReturnPath
	if from == "" {
		from = m.From.Address
	}
	mailFrom := "MAIL FROM:<" + from + ">"
	if eightBit {
		mailFrom += " BODY=8BITMIME"
	}
	if err := cn.envelope(mailFrom, m.To.Address, prev); err != nil {
		var se *SendError
		if wasUsed && errors.As(err, &se) && se.Stage == StageMail && (se.Code == 0 || se.Code == 421) {
			// The server closed the session (idle, or after the previous
			// message's dot; with or without its 421 "closing channel"):
			// this says nothing of the message, so it goes on a fresh one.
			return errStale
		}
		return err
	}
	// After the 354 and before a byte of the message: the hand-over is the
	// last word, and the message with its final dot then goes out in one
	// write, so the server gets either all of it or no end of data.
	if err := handOver(ctx); err != nil {
		return err // the caller closes the connection: the server drops a message without its dot
	}
	text := cn.c.Text
	if _, err := text.W.Write(data); err != nil {
		return reduce(StageData, err)
	}
	if err := text.W.Flush(); err != nil {
		// The dot did not reach the socket: the server cannot have the message.
		return reduce(StageData, err)
	}
	if cn.pipelining {
		handOn()
	}
	if _, _, err := text.ReadResponse(250); err != nil {
		se := reduce(StageDot, err)
		if cn.pipelining && se.Code == 0 {
			cn.close()
		}
		return se
	}
	return nil
}

// envelope sends MAIL, RCPT and DATA, pipelined when the server offers it
// (RFC 2920: one flush, then the three replies), and reads every reply, so
// the session stays in step whatever fails. After a refusal it resets the
// transaction (RSET) for the next message.
func (cn *conn) envelope(mailFrom, to string, prev <-chan struct{}) error {
	text := cn.c.Text
	awaitTurn := func() {
		if prev != nil {
			<-prev // the previous transaction's replies come first
		}
	}
	steps := [...]struct {
		stage  Stage
		line   string
		expect int
	}{{StageMail, mailFrom, 250}, {StageRcpt, "RCPT TO:<" + to + ">", 25}, {StageData, "DATA", 354}}
	if !cn.pipelining {
		awaitTurn()
		for _, st := range steps {
			if _, _, err := cn.cmd(st.line, st.expect); err != nil {
				return cn.refused(reduce(st.stage, err))
			}
		}
		return nil
	}
	for _, st := range steps {
		if _, err := fmt.Fprintf(text.W, "%s\r\n", st.line); err != nil {
			return reduce(StageMail, err)
		}
	}
	if err := text.W.Flush(); err != nil {
		return reduce(StageMail, err)
	}
	awaitTurn()
	var first *SendError
	for _, st := range steps {
		_, _, err := text.ReadResponse(st.expect)
		switch {
		case err != nil:
			se := reduce(st.stage, err)
			if se.Code == 0 {
				// No reply: the connection is gone. A refusal read before
				// it says why (a 421 "closing" to MAIL on an idle session).
				cn.broken = true
				if first != nil {
					return first
				}
				return se
			}
			if first == nil {
				first = se
			}
		case st.stage == StageData && first != nil:
			// DATA accepted although MAIL or RCPT was refused (a server
			// that breaks RFC 2920): the session is inside DATA and cannot
			// be reset. Closing it drops the empty message.
			cn.broken = true
			return first
		}
	}
	if first == nil {
		return nil
	}
	return cn.refused(first)
}

// refused resets the session after a refusal with a reply code, so the
// connection can carry the next message; without a code it is gone anyway.
func (cn *conn) refused(se *SendError) *SendError {
	if se.Code == 421 { // the server is closing the session (RFC 5321 3.8)
		cn.broken = true
		return se
	}
	if se.Code != 0 {
		if _, _, err := cn.cmd("RSET", 250); err != nil {
			cn.broken = true
		}
	}
	return se
}

func (cn *conn) cmd(line string, expect int) (int, string, error) {
	id, err := cn.c.Text.Cmd("%s", line)
	if err != nil {
		return 0, "", err
	}
	cn.c.Text.StartResponse(id)
	defer cn.c.Text.EndResponse(id)
	return cn.c.Text.ReadResponse(expect)
}

// Close quits every open connection, waiting for sends in flight. Quitting
// an idle connection is best effort: if the server has already gone, there
// is nothing left to close and shutdown must not fail for it. The sender
// stays usable (it dials again) and Close may be called again.
func (s *SMTPSender) Close() error {
	var idle []*conn
	for range cap(s.slots) {
		idle = append(idle, <-s.slots)
	}
	for _, cn := range idle {
		if cn != nil {
			if cn.replied != nil {
				<-cn.replied // a dot's reply still on its way
			}
			if err := cn.c.Quit(); err != nil {
				cn.close()
			}
		}
		s.slots <- nil
	}
	return nil
}

// render builds m and writes it to w. Senders render before they take a
// connection or a file, so that a build error never holds one and the
// send itself is only I/O.
// unencoded and eightBit are as for buildMsg.
func render(m *Message, dkim *gomail.DKIMSigner, w io.Writer, unencoded bool) (eightBit bool, err error) {
	msg, eightBit, err := buildMsg(m, dkim, unencoded)
	if err != nil {
		return false, &SendError{Class: Rejected, Stage: StageBuild, Desc: "message could not be built"}
	}
	if _, err := msg.WriteTo(w); err != nil {
		return false, &SendError{Class: Rejected, Stage: StageBuild, Desc: "message could not be written"}
	}
	return eightBit, nil
}

// wireFormat returns body as DATA carries it (see wireWriter).
func wireFormat(body []byte) []byte {
	w := wireWriter{out: make([]byte, 0, len(body)+len(body)/256+2)}
	_, _ = w.Write(body)
	return w.finish()
}

// wireWriter collects a message as DATA carries it (RFC 5321 4.5.2): CRLF
// line endings, a leading dot doubled, and a final CRLF (finish), so that
// the end of data (".\r\n") can follow as it is. Done once as the message
// is written out, it spares textproto's byte-at-a-time dot writer on the
// connection, and a second copy of the message.
type wireWriter struct {
	out     []byte
	started bool // bytes of the current line have been seen
	cr      bool // the line's last byte so far is a '\r', held back: dropped if '\n' follows
}

func (w *wireWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if !w.started {
			if p[0] == '.' {
				w.out = append(w.out, '.')
			}
			w.started = true
		}
		line, eol := p, false
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			line, p, eol = p[:i], p[i+1:], true
		} else {
			p = nil
		}
		if len(line) > 0 {
			if w.cr {
				w.out = append(w.out, '\r') // it was not the line's end
			}
			w.cr = line[len(line)-1] == '\r'
			if w.cr {
				line = line[:len(line)-1]
			}
			w.out = append(w.out, line...)
		}
		if eol {
			w.out = append(w.out, '\r', '\n')
			w.started, w.cr = false, false
		}
	}
	return n, nil
}

// finish ends an unfinished last line and returns the message.
func (w *wireWriter) finish() []byte {
	if w.started {
		w.out = append(w.out, '\r', '\n')
		w.started, w.cr = false, false
	}
	return w.out
}
