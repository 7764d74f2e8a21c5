package bounce

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"net/textproto"
	"strings"

	"github.com/basketassist/basketassist/mail"
)

// Kind is what a report is.
type Kind string

// Report kinds.
const (
	DSN       Kind = "dsn"       // multipart/report; report-type=delivery-status (RFC 3464)
	Complaint Kind = "complaint" // multipart/report; report-type=feedback-report (RFC 5965)
)

// Report is what basketassist needs of a report, and nothing personal: the
// failed recipients' status codes, the feedback type, and the original
// message's Message-ID and return path from the returned headers.
type Report struct {
	Kind         Kind
	Statuses     []string // DSN: the enhanced code of each failed recipient's Status, e.g. "5.1.1" ("" if none)
	FeedbackType string   // complaint: a registered type (feedbackType), e.g. "abuse"
	MessageID    string   // of the original message, if returned
	ReturnPath   string   // of the original message, if returned
	// Recipients are the addresses a provider names as failed or
	// complaining (webhooks only). They are compared with the send's
	// recipient hash and never logged or stored.
	Recipients []string
	// Permanent is the provider's own verdict (SES bounceType Permanent,
	// SendGrid type=bounce). It decides only when the status says nothing
	// more than "failed": none, or the undefined 5.0.0.
	Permanent bool
}

// class classifies one status by mail's table, the one used for replies at
// send time, with the provider's verdict where the status is vague.
func (r *Report) class(status string) mail.Class {
	c := mail.ClassifyStatus(status)
	if c == mail.Rejected && r.Permanent && (status == "" || status == "5.0.0") {
		return mail.HardBounce
	}
	return c
}

// ErrNotAReport says the message is not a DSN or an ARF report (an
// auto-reply, spam to the bounce address): counted, never bounced back.
var ErrNotAReport = errors.New("not a delivery status or feedback report")

// Parse reads one email and returns its report. The MIME walk and the
// RFC 3464 / RFC 5965 fields are small enough for the standard library:
// the machine-readable parts are header blocks (net/textproto).
func Parse(r io.Reader) (*Report, error) {
	msg, err := netmail.ReadMessage(r)
	if err != nil {
		return nil, fmt.Errorf("read message: %w", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["boundary"] == "" {
		return nil, ErrNotAReport
	}
	rep := &Report{}
	switch strings.ToLower(params["report-type"]) {
	case "delivery-status", "global-delivery-status":
		rep.Kind = DSN
	case "feedback-report":
		rep.Kind = Complaint
	default:
		return nil, ErrNotAReport
	}
	parts := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := parts.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read report part: %w", err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		body := io.Reader(p)
		if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "base64") {
			body = base64.NewDecoder(base64.StdEncoding, body)
		}
		blocks := textproto.NewReader(bufio.NewReader(body))
		switch ct {
		case "message/delivery-status", "message/global-delivery-status":
			// A per-message block, then one block per recipient.
			if _, err := blocks.ReadMIMEHeader(); err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("read delivery-status: %w", err)
			}
			for {
				h, err := blocks.ReadMIMEHeader()
				if len(h) > 0 && strings.EqualFold(strings.TrimSpace(h.Get("Action")), "failed") {
					rep.Statuses = append(rep.Statuses, mail.EnhancedStatus(h.Get("Status")))
				}
				if err != nil {
					break
				}
			}
		case "message/feedback-report":
			h, err := blocks.ReadMIMEHeader()
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("read feedback-report: %w", err)
			}
			rep.FeedbackType = feedbackType(h.Get("Feedback-Type"))
		case "message/rfc822", "text/rfc822-headers", "message/rfc822-headers", "message/global", "message/global-headers":
			h, err := blocks.ReadMIMEHeader()
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("read returned headers: %w", err)
			}
			rep.MessageID = strings.TrimSpace(h.Get("Message-Id"))
			rep.ReturnPath = strings.TrimSpace(h.Get("Return-Path"))
		}
	}
	if rep.Kind == Complaint && rep.FeedbackType == "" {
		// RFC 5965 requires the field: without it nothing says the
		// report is a complaint, and a complaint suppresses globally.
		return nil, fmt.Errorf("feedback report without a Feedback-Type: %w", ErrNotAReport)
	}
	return rep, nil
}

// feedbackTypes are the registered ARF feedback types (RFC 5965, 6430,
// 6591, 6650), which are also those SES names.
var feedbackTypes = map[string]bool{"abuse": true, "auth-failure": true, "fraud": true, "not-spam": true, "other": true, "virus": true}

// feedbackType keeps a registered feedback type, in lower case; any other
// value is "other", so that no text of the report's reaches a log. ""
// stays "": SES sends complaints without a type.
func feedbackType(s string) string {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" || feedbackTypes[t] {
		return t
	}
	return "other"
}
