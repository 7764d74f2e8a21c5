package bounce

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/basketassist/basketassist/mail"
)

// Headers of SendGrid's signed event webhook.
const (
	SendGridSignatureHeader = "X-Twilio-Email-Event-Webhook-Signature"
	SendGridTimestampHeader = "X-Twilio-Email-Event-Webhook-Timestamp"
)

// ErrSendGridSignature says a webhook request is not signed by the
// configured verification key.
var ErrSendGridSignature = errors.New("SendGrid signature does not verify")

// ParseSendGridKey reads the verification key as SendGrid's settings show
// it (base64 of the DER public key), or as PEM.
func ParseSendGridKey(s string) (*ecdsa.PublicKey, error) {
	s = strings.TrimSpace(s)
	der := []byte(nil)
	if block, _ := pem.Decode([]byte(s)); block != nil {
		der = block.Bytes
	} else {
		var err error
		if der, err = base64.StdEncoding.DecodeString(s); err != nil {
			return nil, errors.New("not base64 or PEM")
		}
	}
	key, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, errors.New("not a public key")
	}
	ec, ok := key.(*ecdsa.PublicKey)
	if !ok {
		return nil, errors.New("not an ECDSA public key")
	}
	return ec, nil
}

// VerifySendGrid checks the ECDSA signature SendGrid puts on a request: over
// the timestamp header followed by the raw body, SHA-256.
func VerifySendGrid(key *ecdsa.PublicKey, signature, timestamp string, body []byte) error {
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil || timestamp == "" {
		return ErrSendGridSignature
	}
	h := sha256.New()
	h.Write([]byte(timestamp))
	h.Write(body)
	if !ecdsa.VerifyASN1(key, h.Sum(nil), sig) {
		return ErrSendGridSignature
	}
	return nil
}

// sendGridEvent is the part of one event webhook event that matters here.
type sendGridEvent struct {
	Email  string `json:"email"`
	Event  string `json:"event"`
	Type   string `json:"type"`   // of a bounce: "bounce" (permanent) or "blocked"
	Status string `json:"status"` // enhanced status code
	Reason string `json:"reason"` // of a drop: fixed words such as "Bounced Address"
	SMTPID string `json:"smtp-id"`
}

// SendGridReports turns an event webhook batch into reports, one per
// bounce, spam report, or drop because of an earlier bounce or complaint;
// deliveries, opens and the like need nothing and give none. Deferrals are
// left alone: SendGrid retries them and reports the end as a bounce.
func SendGridReports(body []byte) ([]*Report, error) {
	var events []sendGridEvent
	if err := json.Unmarshal(body, &events); err != nil {
		return nil, fmt.Errorf("not a SendGrid event batch: %w", err)
	}
	var out []*Report
	for _, e := range events {
		rep := &Report{MessageID: e.SMTPID, Recipients: []string{e.Email}}
		switch {
		case e.Event == "bounce":
			rep.Kind, rep.Statuses, rep.Permanent = DSN, []string{mail.EnhancedStatus(e.Status)}, e.Type != "blocked"
		case e.Event == "spamreport", e.Event == "dropped" && e.Reason == "Spam Reporting Address":
			rep.Kind = Complaint
		case e.Event == "dropped" && e.Reason == "Bounced Address":
			rep.Kind, rep.Statuses, rep.Permanent = DSN, []string{""}, true
		default:
			continue
		}
		out = append(out, rep)
	}
	return out, nil
}
