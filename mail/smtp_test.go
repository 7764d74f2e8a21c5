package mail

import (
	"context"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/textproto"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/internal/smtptest"
)

const rcpt = "grey.secret@shop.test"

func testMessage() *Message {
	return &Message{From: &netmail.Address{Name: "Pink", Address: "hello@pink.example"}, To: &netmail.Address{Name: "Grey", Address: rcpt},
		Subject: "Hi", Text: "text", HTML: "<p>html</p>", Date: time.Now(), MessageID: "x.s1@pink.example",
		ListID: "Pink <l.pink.example>", Unsubscribe: "https://ba.example/u/t"}
}

func setupSender(t *testing.T, conns int) (*SMTPSender, *smtptest.Server) {
	t.Helper()
	srv := smtptest.Start(t)
	s, err := NewSMTPSender(SMTPOptions{Host: srv.Host, Port: srv.Port, Connections: conns, Timeout: 5 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s, srv
}

// handOvers counts hand-overs and can refuse them.
type handOvers struct {
	n      int
	refuse error
}

func (h *handOvers) f(context.Context) error {
	h.n++
	return h.refuse
}

func TestSendReusesConnectionAndHandsOverOnce(t *testing.T) {
	t.Parallel()
	s, srv := setupSender(t, 1)
	ctx := context.Background()
	var h handOvers
	for range 3 {
		require.NoError(t, s.Send(ctx, testMessage(), h.f))
	}
	assert.Equal(t, 3, h.n, "one hand-over per message")
	assert.Equal(t, 1, srv.Sessions(), "three messages over one connection")
	assert.Len(t, srv.Messages(), 3)
}

// Relays close idle sessions, most with a 421. The next message on each
// pooled connection must go out on a fresh one, without an error, a retry
// or a second hand-over, pipelined or not.
func TestSessionsClosedByTheServerWhileIdleAreReplacedSilently(t *testing.T) {
	t.Parallel()
	s, srv := setupSender(t, 2)
	ctx := context.Background()
	var h handOvers
	for range 2 {
		require.NoError(t, s.Send(ctx, testMessage(), h.f))
	}
	srv.CloseIdle()
	for range 4 {
		require.NoError(t, s.Send(ctx, testMessage(), h.f), "a stale session is not the message's failure")
	}
	assert.Equal(t, 6, h.n)
	assert.Len(t, srv.Messages(), 6)
}

func TestHandOverRefusalDeliversNothing(t *testing.T) {
	t.Parallel()
	s, srv := setupSender(t, 1)
	ctx := context.Background()
	refusal := errors.New("suppressed meanwhile")
	h := handOvers{refuse: refusal}
	err := s.Send(ctx, testMessage(), h.f)
	require.ErrorIs(t, err, refusal, "Send returns the hand-over's own error")
	assert.Equal(t, 1, h.n)
	h.refuse = nil
	require.NoError(t, s.Send(ctx, testMessage(), h.f), "the next message goes out on a fresh connection")
	assert.Len(t, srv.Messages(), 1, "the refused message never reached the server: it had no final dot")
	assert.Equal(t, 2, srv.Sessions())
}

func TestRepliesAreClassifiedAndReducedToCodes(t *testing.T) {
	t.Parallel()
	addrText := "<" + rcpt + "> says no"
	for _, c := range []struct {
		name       string
		fault      smtptest.Fault
		class      Class
		stage      Stage
		handedOver bool
	}{
		{"451 at MAIL", smtptest.Fault{Stage: smtptest.AtMail, Code: 451, Enhanced: smtp.EnhancedCode{4, 3, 0}}, Temporary, StageMail, false},
		{"550 5.1.1 at MAIL is about the sender", smtptest.Fault{Stage: smtptest.AtMail, Code: 550, Enhanced: smtp.EnhancedCode{5, 1, 1}}, Rejected, StageMail, false},
		{"451 at RCPT", smtptest.Fault{Stage: smtptest.AtRcpt, Code: 451, Enhanced: smtp.EnhancedCode{4, 2, 1}}, Temporary, StageRcpt, false},
		{"550 5.1.1 at RCPT", smtptest.Fault{Stage: smtptest.AtRcpt, Code: 550, Enhanced: smtp.EnhancedCode{5, 1, 1}}, HardBounce, StageRcpt, false},
		{"550 5.7.1 relaying denied at RCPT", smtptest.Fault{Stage: smtptest.AtRcpt, Code: 550, Enhanced: smtp.EnhancedCode{5, 7, 1}}, Rejected, StageRcpt, false},
		{"552 5.2.2 mailbox full at RCPT", smtptest.Fault{Stage: smtptest.AtRcpt, Code: 552, Enhanced: smtp.EnhancedCode{5, 2, 2}}, Temporary, StageRcpt, false},
		{"550 5.1.1 after DATA", smtptest.Fault{Stage: smtptest.AtDot, Code: 550, Enhanced: smtp.EnhancedCode{5, 1, 1}}, HardBounce, StageDot, true},
		{"451 after DATA", smtptest.Fault{Stage: smtptest.AtDot, Code: 451, Enhanced: smtp.EnhancedCode{4, 3, 0}}, Temporary, StageDot, true},
		{"554 without enhanced code after DATA", smtptest.Fault{Stage: smtptest.AtDot, Code: 554, Enhanced: smtp.NoEnhancedCode}, Rejected, StageDot, true},
		{"connection dropped after the final dot", smtptest.Fault{Stage: smtptest.DropAt}, InDoubt, StageDot, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, srv := setupSender(t, 1)
			c.fault.Text = addrText
			srv.Fail(c.fault)
			var h handOvers
			err := s.Send(context.Background(), testMessage(), h.f)
			var se *SendError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, c.class, se.Class)
			assert.Equal(t, c.stage, se.Stage)
			assert.Equal(t, c.fault.Code, se.Code)
			if c.fault.Code != 0 && c.fault.Enhanced != smtp.NoEnhancedCode {
				assert.Regexp(t, `^[45]\.\d\.\d$`, se.Enhanced)
			}
			assert.Equal(t, c.handedOver, h.n == 1, "hand-over only once RCPT and DATA were accepted")
			for _, needle := range []string{rcpt, "grey.secret", "says no"} {
				assert.NotContains(t, err.Error(), needle, "the server's text never leaves the sender")
				assert.NotContains(t, se.Desc, needle)
			}
			require.NoError(t, s.Send(context.Background(), testMessage(), h.f), "the sender recovers for the next message")
		})
	}
}

func TestClassifyTable(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		stage    Stage
		code     int
		enhanced string
		want     Class
	}{
		{StageRcpt, 550, "5.1.1", HardBounce}, {StageRcpt, 550, "5.1.2", HardBounce}, {StageRcpt, 553, "5.1.3", HardBounce},
		{StageRcpt, 551, "5.1.6", HardBounce}, {StageRcpt, 550, "5.1.10", HardBounce}, {StageDot, 550, "5.2.1", HardBounce},
		{StageRcpt, 552, "5.2.2", Temporary}, {StageRcpt, 450, "4.2.2", Temporary}, {StageDot, 421, "", Temporary},
		{StageRcpt, 550, "5.7.1", Rejected}, {StageRcpt, 554, "5.7.26", Rejected}, {StageDot, 554, "5.3.4", Rejected},
		{StageRcpt, 550, "5.4.4", Rejected}, {StageRcpt, 501, "5.5.2", Rejected}, {StageRcpt, 550, "", Rejected},
		{StageRcpt, 550, "5.1.7", Rejected}, {StageMail, 550, "5.1.1", Rejected}, {StageConnect, 535, "5.7.8", Rejected},
	} {
		assert.Equal(t, c.want, Classify(c.stage, c.code, c.enhanced), "%s %d %s", c.stage, c.code, c.enhanced)
	}
}

func TestNetworkFailuresAreTemporaryAndNamedInFixedWords(t *testing.T) {
	t.Parallel()
	s, err := NewSMTPSender(SMTPOptions{Host: "127.0.0.1", Port: 1, Timeout: 2 * time.Second})
	require.NoError(t, err)
	var h handOvers
	err = s.Send(context.Background(), testMessage(), h.f)
	var se *SendError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, Temporary, se.Class)
	assert.Equal(t, StageConnect, se.Stage)
	assert.Equal(t, "connection refused", se.Desc)
	assert.NotContains(t, err.Error(), "127.0.0.1", "library text is not passed on")
	assert.Zero(t, h.n)
}

func TestCloseSucceedsWhenServerIsGone(t *testing.T) {
	t.Parallel()
	s, srv := setupSender(t, 2)
	var h handOvers
	require.NoError(t, s.Send(context.Background(), testMessage(), h.f))
	srv.Stop()
	assert.NoError(t, s.Close(), "a graceful shutdown does not fail because the SMTP server left first")
}

func TestAnyDisplayNameIsEncoded(t *testing.T) {
	t.Parallel()
	s, srv := setupSender(t, 1)
	m := testMessage()
	m.To.Name = `Ann "the \ buyer" O'Neil, Jr. — Zoë`
	var h handOvers
	require.NoError(t, s.Send(context.Background(), m, h.f))
	msgs := srv.Messages()
	require.Len(t, msgs, 1)
	to, err := msgs[0].Parsed(t).Header.AddressList("To")
	require.NoError(t, err)
	require.Len(t, to, 1)
	assert.Equal(t, m.To.Name, to[0].Name, "the name survives the round trip")
	assert.Equal(t, rcpt, to[0].Address)
	assert.Equal(t, []string{rcpt}, msgs[0].To)
	assert.False(t, strings.ContainsAny(msgs[0].From, "<>"), "MAIL FROM carries the bare address")
}

func TestDescribeKeepsNoForeignText(t *testing.T) {
	t.Parallel()
	foreign := fmt.Errorf("render: %w", errors.New("template: name \"grey.secret@shop.test\" is bad"))
	assert.Equal(t, "error of type *errors.errorString", Describe(foreign))
	assert.NotContains(t, Describe(&SendError{Class: Temporary, Stage: StageRcpt, Code: 451, Enhanced: "4.3.0", Desc: "other"}), "@")
	assert.Equal(t, "timeout", Describe(fmt.Errorf("wrapped: %w", context.DeadlineExceeded)))
}

func TestWireFormatEndsLinesWithCRLFAndDoublesALeadingDot(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Subject: x\r\n\r\n.hidden\r\nok\r\n": "Subject: x\r\n\r\n..hidden\r\nok\r\n",
		"a\nb":                                "a\r\nb\r\n",
		".\r\n..\n":                           "..\r\n...\r\n",
		"":                                    "",
		"mid.dot\r\n":                         "mid.dot\r\n",
		"cr\rmid\r\r\n.\r":                    "cr\rmid\r\r\n..\r\n",
	} {
		assert.Equal(t, want, string(wireFormat([]byte(in))), "%q", in)
		// go-mail writes a message in many pieces: a line, a CR or a dot
		// split across writes comes out the same.
		for cut := range len(in) {
			w := wireWriter{}
			_, _ = w.Write([]byte(in[:cut]))
			_, _ = w.Write([]byte(in[cut:]))
			assert.Equal(t, want, string(w.finish()), "%q cut at %d", in, cut)
		}
		w := wireWriter{}
		for i := range len(in) {
			_, _ = w.Write([]byte{in[i]})
		}
		assert.Equal(t, want, string(w.finish()), "%q a byte at a time", in)
	}
}

// pipelinedBehind starts a first message whose dot the server holds, waits
// until the first has handed the connection on (its dot written, its reply
// pending), starts a second on the same connection and waits until it has
// taken it: the second's envelope follows the first's dot (RFC 2920 3.1).
// It returns both results once release has let the server answer.
func pipelinedBehind(t *testing.T, s *SMTPSender, srv *smtptest.Server) (first, second error, handOvers int) {
	t.Helper()
	ctx := context.Background()
	waiting, release := srv.HoldData()
	var n atomic.Int32
	hand := func(context.Context) error { n.Add(1); return nil }
	done1, done2 := make(chan error, 1), make(chan error, 1)
	go func() { done1 <- s.Send(ctx, testMessage(), hand) }()
	<-waiting
	require.Eventually(t, func() bool { return len(s.slots) == 1 }, 5*time.Second, time.Millisecond,
		"the connection is free for the next message while the dot's reply is pending")
	go func() { done2 <- s.Send(ctx, testMessage(), hand) }()
	require.Eventually(t, func() bool { return len(s.slots) == 0 }, 5*time.Second, time.Millisecond)
	release()
	return <-done1, <-done2, int(n.Load())
}

func TestTheNextEnvelopeFollowsTheDot(t *testing.T) {
	t.Parallel()
	s, srv := setupSender(t, 1)
	first, second, handOvers := pipelinedBehind(t, s, srv)
	require.NoError(t, first)
	require.NoError(t, second)
	assert.Equal(t, 2, handOvers)
	assert.Len(t, srv.Messages(), 2)
	assert.Equal(t, 1, srv.Sessions(), "both on one connection")
}

// A dot left unanswered is in doubt; the message pipelined behind it has
// not been accepted, so it goes out on a fresh connection, once.
func TestAMessageBehindAnUnansweredDotGoesOnAFreshConnection(t *testing.T) {
	t.Parallel()
	s, srv := setupSender(t, 1)
	srv.Fail(smtptest.Fault{Stage: smtptest.DropAt})
	first, second, handOvers := pipelinedBehind(t, s, srv)
	var se *SendError
	require.ErrorAs(t, first, &se)
	assert.Equal(t, InDoubt, se.Class)
	require.NoError(t, second, "nothing of the second was accepted: not its failure")
	assert.Equal(t, 2, handOvers, "the second was handed over once, on the fresh connection")
	assert.Len(t, srv.Messages(), 2, "the first was in fact kept; the second once")
	assert.Equal(t, 2, srv.Sessions())
}

// Unencoded parts are labelled 8bit, which a relay without 8BITMIME may
// convert to quoted-printable on its way, breaking the DKIM signature: they
// go only to a relay that offers 8BITMIME, declared with BODY=8BITMIME.
func TestUnencodedPartsGoOnlyToRelaysOffering8BITMIME(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := testMessage()
	m.HTML = "<p>£2</p>"

	s, srv := setupSender(t, 1) // go-smtp offers 8BITMIME
	require.NoError(t, s.Send(ctx, m, func(context.Context) error { return nil }))
	got := srv.Messages()[0]
	assert.Equal(t, smtp.Body8BitMIME, got.Body)
	text, html := mimeParts(t, got.Data)
	assert.Equal(t, "8bit", text.encoding)
	assert.Equal(t, "8bit", html.encoding)

	addr, mails, data := sevenBitRelay(t)
	host, port, _ := strings.Cut(addr, ":")
	var portN int
	_, _ = fmt.Sscan(port, &portN)
	s7, err := NewSMTPSender(SMTPOptions{Host: host, Port: portN, Connections: 1, Timeout: 5 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s7.Close() })
	for range 2 { // the first finds out on its connection, the second knows before rendering
		require.NoError(t, s7.Send(ctx, m, func(context.Context) error { return nil }))
		assert.Equal(t, "MAIL FROM:<hello@pink.example>", <-mails, "no BODY=8BITMIME to a relay without it")
		text, html = mimeParts(t, <-data)
		assert.Equal(t, "quoted-printable", text.encoding)
		assert.Equal(t, "quoted-printable", html.encoding)
		assert.Equal(t, "<p>£2</p>", html.body)
	}
}

// sevenBitRelay is an SMTP server on 127.0.0.1 that offers PIPELINING but
// not 8BITMIME, for one session; it passes on each MAIL command and each
// message's data as received.
func sevenBitRelay(t *testing.T) (addr string, mails <-chan string, data <-chan []byte) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	mailc, datac := make(chan string, 4), make(chan []byte, 4)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		tp := textproto.NewConn(c)
		_ = tp.PrintfLine("220 seven.test ESMTP")
		for {
			line, err := tp.ReadLine()
			if err != nil {
				return
			}
			switch verb := strings.ToUpper(strings.Fields(line + " x")[0]); verb {
			case "EHLO":
				_ = tp.PrintfLine("250-seven.test\r\n250 PIPELINING")
			case "MAIL":
				mailc <- line
				_ = tp.PrintfLine("250 ok")
			case "RCPT", "RSET", "NOOP":
				_ = tp.PrintfLine("250 ok")
			case "DATA":
				_ = tp.PrintfLine("354 go on")
				b, err := tp.ReadDotBytes()
				if err != nil {
					return
				}
				datac <- b
				_ = tp.PrintfLine("250 queued")
			case "QUIT":
				_ = tp.PrintfLine("221 bye")
				return
			default:
				_ = tp.PrintfLine("502 unknown")
			}
		}
	}()
	return l.Addr().String(), mailc, datac
}
