package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// Class says what a failed send means for the reminder.
type Class int

// Failure classes. Classify is the one place that assigns them.
const (
	// Temporary: nothing was delivered and a retry may succeed (4xx, 5.2.2
	// mailbox full, a network error before the final dot).
	Temporary Class = iota
	// HardBounce: the server said the recipient's address cannot receive
	// mail (bad mailbox or domain, disabled mailbox). Suppress globally.
	HardBounce
	// Rejected: the sender's problem, never the recipient's (relay, auth,
	// policy, spam, protocol, or a 5xx without an enhanced code). Not
	// retried; nobody is suppressed; ops must look at the relay.
	Rejected
	// InDoubt: the final dot was sent and no reply came; the message may
	// have been delivered. Not retried, because a second email is worse than none.
	InDoubt
)

func (c Class) String() string {
	switch c {
	case Temporary:
		return "temporary"
	case HardBounce:
		return "hard_bounce"
	case Rejected:
		return "rejected"
	default:
		return "in_doubt"
	}
}

// Stage is the step of the SMTP conversation a failure happened at.
type Stage string

// Stages, in the order of a conversation.
const (
	StageConnect Stage = "connect" // dial, greeting, EHLO, STARTTLS, AUTH
	StageMail    Stage = "mail"
	StageRcpt    Stage = "rcpt"
	StageData    Stage = "data" // the DATA command or writing the body
	StageDot     Stage = "dot"  // the reply to the final dot: after the hand-over
	StageBuild   Stage = "build"
)

// SendError is a failed send, reduced to what may be logged, stored and
// counted: the class, the stage, the reply code, the RFC 3463 enhanced
// status code and a fixed description. It never holds the server's text or
// another library's message, which can name the recipient.
type SendError struct {
	Class    Class
	Stage    Stage
	Code     int    // SMTP reply code; 0 when the server did not answer
	Enhanced string // e.g. "5.1.1"; "" when the reply had none
	Desc     string // fixed text from this package, e.g. "bad destination mailbox address"
}

func (e *SendError) Error() string {
	code := ""
	if e.Code != 0 {
		code = " " + strconv.Itoa(e.Code)
	}
	if e.Enhanced != "" {
		code += " " + e.Enhanced
	}
	return fmt.Sprintf("smtp %s:%s %s (%s)", e.Stage, code, e.Desc, e.Class)
}

// hardBounces are the enhanced codes that mean the recipient's address
// cannot receive mail, wherever the reply came (RCPT or after DATA).
var hardBounces = map[string]bool{
	"5.1.1": true, "5.1.2": true, "5.1.3": true, "5.1.6": true, "5.1.10": true, // bad mailbox or domain
	"5.2.1": true, // mailbox disabled
}

// Classify is the classification table: what a reply code and enhanced
// status code at stage mean for the reminder.
//
//	4xx (any enhanced code)                      Temporary (retried)
//	5xx 5.2.2 mailbox full                       Temporary (soft bounce)
//	5xx 5.1.1 5.1.2 5.1.3 5.1.6 5.1.10 5.2.1     HardBounce at RCPT or after DATA
//	5xx anything else, or no enhanced code       Rejected: the sender's problem
//	any 5xx at connect or MAIL                   Rejected: it is about the sender
func Classify(stage Stage, code int, enhanced string) Class {
	switch {
	case code >= 400 && code < 500:
		return Temporary
	case code < 500 || code > 599:
		return Rejected // not a valid failure reply: do not guess it is the recipient's
	case stage == StageConnect || stage == StageMail:
		return Rejected
	case enhanced == "5.2.2":
		return Temporary
	case hardBounces[enhanced]:
		return HardBounce
	}
	return Rejected
}

// ClassifyStatus classifies an enhanced status code reported later, in a
// delivery status notification (RFC 3464 Status), by the same table as a
// reply to RCPT: "5.1.1" is a hard bounce, "5.2.2" or "4.x.x" temporary,
// "5.7.1" the sender's problem.
func ClassifyStatus(status string) Class {
	switch {
	case strings.HasPrefix(status, "5."):
		return Classify(StageRcpt, 550, status)
	case strings.HasPrefix(status, "4."):
		return Classify(StageRcpt, 450, status)
	}
	return Rejected // not a failure status: do not guess it is the recipient's
}

// AboutRecipient reports whether a temporary refusal is a soft bounce:
// about the recipient's mailbox (4.1.x address, 4.2.x mailbox status,
// 5.2.2 full), given at RCPT or after DATA; at RCPT a reply without an
// enhanced code counts too. A 4.7.x (policy, greylisting), a 4.3.x or 4.4.x
// (the server, the network) or a lost connection is not the recipient's.
func (e *SendError) AboutRecipient() bool {
	if e.Class != Temporary || e.Code == 0 || (e.Stage != StageRcpt && e.Stage != StageDot) {
		return false
	}
	if e.Enhanced == "" {
		return e.Stage == StageRcpt
	}
	return SoftBounceStatus(e.Enhanced)
}

// SoftBounceStatus reports whether a temporary status is about the
// recipient's mailbox: 4.1.x (address), 4.2.x (mailbox status) or 5.2.2
// (full). The one rule for replies and for reports that arrive later.
func SoftBounceStatus(enhanced string) bool {
	return enhanced == "5.2.2" || strings.HasPrefix(enhanced, "4.1.") || strings.HasPrefix(enhanced, "4.2.")
}

var enhancedCode = regexp.MustCompile(`^([245])\.(\d{1,3})\.(\d{1,3})(?:\s|$)`)

// EnhancedStatus returns the RFC 3463 enhanced status code that s starts
// with ("5.1.1 (bad destination mailbox)" gives "5.1.1"), or "" when it
// starts with none. It is all that is kept of a reply's text or of a
// report's Status field: the rest is another system's words, which can
// carry an address.
func EnhancedStatus(s string) string {
	m := enhancedCode.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return ""
	}
	return m[1] + "." + m[2] + "." + m[3]
}

// reduce turns any error met at stage into a SendError, keeping codes only.
// At StageDot, after the final dot was written, a failure without a reply
// leaves the message in doubt.
func reduce(stage Stage, err error) *SendError {
	var se *SendError
	if errors.As(err, &se) {
		return se
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		enh := EnhancedStatus(te.Msg)
		return &SendError{Class: Classify(stage, te.Code, enh), Stage: stage, Code: te.Code, Enhanced: enh, Desc: describe(te.Code, enh)}
	}
	class := Temporary
	if stage == StageDot {
		class = InDoubt
	}
	return &SendError{Class: class, Stage: stage, Desc: networkDesc(err)}
}

// Describe names any error in fixed words, for logs: a *SendError by its
// codes, a network failure by its kind, an error that says its text is
// fixed words (FixedWords) by that text, anything else by its Go type. No
// text from another system (an SMTP reply, a library's message, a
// template's data) passes, since such text can carry an address.
func Describe(err error) string {
	var se *SendError
	var fixed FixedWords
	switch {
	case err == nil:
		return ""
	case errors.As(err, &se):
		return se.Error()
	case errors.As(err, &fixed):
		return fixed.Error()
	}
	if d := networkDesc(err); d != "network error" {
		return d
	}
	for {
		inner := errors.Unwrap(err)
		if inner == nil {
			return fmt.Sprintf("error of type %T", err)
		}
		err = inner
	}
}

// FixedWords is an error whose text is basketassist's own fixed words,
// with nothing from another system in it (replication.ErrNotReplicated):
// Describe passes it as it is.
type FixedWords interface {
	error
	FixedWords()
}

// networkDesc names a failure that came with no reply, in fixed words.
func networkDesc(err error) string {
	var netErr net.Error
	var tlsErr tls.RecordHeaderError
	switch {
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return "connection closed"
	case errors.As(err, &tlsErr):
		return "tls error"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "host not found"
	}
	return "network error"
}

// subjects are RFC 3463's status subjects; details the details we name.
var (
	subjects = map[string]string{
		"0": "other or undefined status", "1": "address status", "2": "mailbox status", "3": "mail system status",
		"4": "network and routing status", "5": "mail delivery protocol status", "6": "message content or media status",
		"7": "security or policy status",
	}
	details = map[string]string{
		"1.0": "other address status", "1.1": "bad destination mailbox address", "1.2": "bad destination system address",
		"1.3": "bad destination mailbox address syntax", "1.4": "destination mailbox address ambiguous",
		"1.6": "destination mailbox has moved", "1.7": "bad sender's mailbox address syntax",
		"1.8": "bad sender's system address", "1.10": "recipient address has null MX",
		"2.0": "other or undefined mailbox status", "2.1": "mailbox disabled", "2.2": "mailbox full",
		"2.3": "message length exceeds administrative limit", "2.4": "mailing list expansion problem",
		"3.0": "other or undefined mail system status", "3.1": "mail system full", "3.2": "system not accepting network messages",
		"3.4": "message too big for system", "3.5": "system incorrectly configured",
		"4.0": "other or undefined network or routing status", "4.1": "no answer from host", "4.2": "bad connection",
		"4.3": "directory server failure", "4.4": "unable to route", "4.5": "mail system congestion",
		"4.6": "routing loop detected", "4.7": "delivery time expired",
		"5.0": "other or undefined protocol status", "5.1": "invalid command", "5.2": "syntax error",
		"5.3": "too many recipients", "5.4": "invalid command arguments", "5.5": "wrong protocol version",
		"6.0": "other or undefined media error", "6.1": "media not supported",
		"7.0": "other or undefined security status", "7.1": "delivery not authorized, message refused",
		"7.8": "authentication credentials invalid", "7.9": "authentication mechanism is too weak",
		"7.23": "SPF validation failed", "7.25": "reverse DNS validation failed", "7.26": "multiple authentication checks failed",
		"7.27": "sender address has null MX",
	}
)

// Refused is the error a server's refusal at stage gives, classified and
// described as a real reply would be (the demo plays a refusing server
// with it).
func Refused(stage Stage, code int, enhanced string) *SendError {
	return &SendError{Class: Classify(stage, code, enhanced), Stage: stage, Code: code, Enhanced: enhanced,
		Desc: describe(code, enhanced)}
}

// describe returns a fixed description of a reply: by enhanced code when
// there is one, else by the reply code's class.
func describe(code int, enhanced string) string {
	if enhanced != "" {
		m := enhancedCode.FindStringSubmatch(enhanced)
		if d, ok := details[m[2]+"."+m[3]]; ok {
			return d
		}
		if d, ok := subjects[m[2]]; ok {
			return d
		}
	}
	switch {
	case code >= 400 && code < 500:
		return "temporary failure"
	case code >= 500:
		return "permanent failure"
	}
	return "unexpected reply"
}
