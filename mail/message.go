// Package mail is the only code that knows SMTP: it builds MIME messages,
// signs them with DKIM, sends them over a pool of SMTP connections, writes
// the dev outbox, and reduces every SMTP reply to codes. It is the only
// importer of go-mail.
//
// A send has one point of no return, the final dot of DATA. Send calls the
// caller's HandOver just before it writes the message and its dot, so that
// the caller can record "handing over" and have the last word (see Sender).
package mail

import (
	"context"
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
	// ReturnPath is the envelope sender (MAIL FROM); "" means From's address.
	ReturnPath string
}

// HandOver is called by a sender at the last moment before the message is
// handed over for good: for SMTP, after the server accepted MAIL, RCPT and
// DATA, just before the body and its final dot are written. If it returns
// an error the message is not handed over (the SMTP transaction is
// abandoned) and Send returns that error, unwrapped from any SendError.
type HandOver func(ctx context.Context) error
