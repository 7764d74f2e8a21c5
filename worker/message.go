package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/mail"
	"time"
)

// Message is one email ready to send.
type Message struct {
	From      *mail.Address
	To        *mail.Address
	Subject   string
	Text      string
	HTML      string
	Date      time.Time
	MessageID string // without angle brackets
	// ListID is the List-Id header value (RFC 2919).
	ListID string
	// Unsubscribe is the one-click URL for List-Unsubscribe (RFC 8058).
	Unsubscribe string
	// Lang is the language of the text (Content-Language).
	Lang string
}

// Sender delivers a Message. Errors should be *SendError so the handler can
// tell a retry from a bounce.
type Sender interface {
	Send(ctx context.Context, m *Message) error
}

// FailureClass says what a failed send means for the reminder.
type FailureClass int

// Failure classes.
const (
	// Temporary: nothing was delivered and a retry may succeed (4xx, network
	// errors before the message was handed over).
	Temporary FailureClass = iota
	// RecipientRejected: a 5xx to RCPT TO. The address is suppressed as a hard bounce.
	RecipientRejected
	// Rejected: another 5xx (sender, content). Not retried; the address is not blamed.
	Rejected
	// InDoubt: the connection broke after the message was handed over; it may
	// have been delivered. Not retried, because a second email is worse than none.
	InDoubt
)

func (c FailureClass) String() string {
	switch c {
	case Temporary:
		return "temporary"
	case RecipientRejected:
		return "recipient_rejected"
	case Rejected:
		return "rejected"
	default:
		return "in_doubt"
	}
}

// SendError is a failed send with its class and SMTP code (0 when none).
type SendError struct {
	Class FailureClass
	Code  int
	Err   error
}

func (e *SendError) Error() string {
	return fmt.Sprintf("smtp %s (code %d): %v", e.Class, e.Code, e.Err)
}

func (e *SendError) Unwrap() error { return e.Err }

// MessageID is deterministic per (storefront, basket, step), so that even a
// receiving system can recognise a duplicate; it reveals no basket id.
func MessageID(storefront, basketID string, step int, domain string) string {
	sum := sha256.Sum256([]byte(storefront + "\x00" + basketID))
	return fmt.Sprintf("basket.%s.s%d@%s", hex.EncodeToString(sum[:12]), step, domain)
}
