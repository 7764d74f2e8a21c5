package bounce

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // SNS SignatureVersion 1 is SHA1withRSA; version 2 is SHA256
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/basketassist/basketassist/mail"
)

// SNSMessage is one Amazon SNS delivery to an HTTPS endpoint: a
// Notification, a SubscriptionConfirmation or an UnsubscribeConfirmation.
type SNSMessage struct {
	Type             string
	MessageID        string `json:"MessageId"`
	Token            string
	TopicArn         string
	Subject          string
	Message          string
	Timestamp        string
	SignatureVersion string
	Signature        string
	SigningCertURL   string
	SubscribeURL     string
}

// Why an SNS delivery is refused.
var (
	ErrSNSSignature = errors.New("SNS signature does not verify")
	ErrSNSTopic     = errors.New("SNS topic is not in bounces.ses.topic_arns")
	ErrSNSCertURL   = errors.New("SNS certificate or subscribe URL is not an https URL of sns.<region>.amazonaws.com")
)

// ParseSNS reads one SNS delivery.
func ParseSNS(body []byte) (*SNSMessage, error) {
	var m SNSMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("not an SNS message: %w", err)
	}
	switch m.Type {
	case "Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation":
	default:
		return nil, fmt.Errorf("not an SNS message: Type %q", m.Type)
	}
	return &m, nil
}

// SNS verifies SNS deliveries: the signature, by the certificate SNS names
// (fetched over https from an SNS host only), and the topic, which must be
// one of the configured ones: anyone can create an SNS topic, so a valid
// signature alone proves nothing about whose it is.
type SNS struct {
	TopicARNs []string
	// Client fetches signing certificates and confirms subscriptions; nil:
	// a client with a 10 s timeout.
	Client *http.Client

	mu    sync.Mutex
	certs map[string]*x509.Certificate // by URL; SNS rotates them rarely
}

var snsHost = regexp.MustCompile(`^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$`)

// snsURL accepts only https URLs on an SNS host.
func snsURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || !snsHost.MatchString(u.Hostname()) || u.Port() != "" {
		return nil, ErrSNSCertURL
	}
	return u, nil
}

// Verify checks m's topic and signature.
func (s *SNS) Verify(ctx context.Context, m *SNSMessage) error {
	if !slices.Contains(s.TopicARNs, m.TopicArn) {
		return ErrSNSTopic
	}
	var h crypto.Hash
	switch m.SignatureVersion {
	case "1":
		h = crypto.SHA1
	case "2":
		h = crypto.SHA256
	default:
		return fmt.Errorf("%w: SignatureVersion %q", ErrSNSSignature, m.SignatureVersion)
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil {
		return fmt.Errorf("%w: signature is not base64", ErrSNSSignature)
	}
	cert, err := s.cert(ctx, m.SigningCertURL)
	if err != nil {
		return err
	}
	key, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: certificate key is not RSA", ErrSNSSignature)
	}
	var digest []byte
	if h == crypto.SHA1 {
		d := sha1.Sum([]byte(m.stringToSign())) //nolint:gosec // what SignatureVersion 1 signs
		digest = d[:]
	} else {
		d := sha256.Sum256([]byte(m.stringToSign()))
		digest = d[:]
	}
	if rsa.VerifyPKCS1v15(key, h, digest, sig) != nil {
		return ErrSNSSignature
	}
	return nil
}

// stringToSign is what SNS signs: the named fields as "Name\nvalue\n", in
// byte order of their names, Subject only when present.
func (m *SNSMessage) stringToSign() string {
	var b strings.Builder
	add := func(name, value string) { b.WriteString(name + "\n" + value + "\n") }
	add("Message", m.Message)
	add("MessageId", m.MessageID)
	if m.Type == "Notification" {
		if m.Subject != "" {
			add("Subject", m.Subject)
		}
	} else {
		add("SubscribeURL", m.SubscribeURL)
	}
	add("Timestamp", m.Timestamp)
	if m.Type != "Notification" {
		add("Token", m.Token)
	}
	add("TopicArn", m.TopicArn)
	add("Type", m.Type)
	return b.String()
}

func (s *SNS) client() *http.Client {
	if s.Client != nil {
		return s.Client
	}
	return &http.Client{Timeout: 10 * time.Second}
}

func (s *SNS) cert(ctx context.Context, raw string) (*x509.Certificate, error) {
	u, err := snsURL(raw)
	if err != nil || !strings.HasSuffix(u.Path, ".pem") {
		return nil, ErrSNSCertURL
	}
	s.mu.Lock()
	c := s.certs[raw]
	s.mu.Unlock()
	if c != nil {
		return c, nil
	}
	body, err := s.get(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("fetch SNS signing certificate: %w", err)
	}
	block, _ := pem.Decode(body)
	if block == nil {
		return nil, fmt.Errorf("%w: certificate is not PEM", ErrSNSSignature)
	}
	if c, err = x509.ParseCertificate(block.Bytes); err != nil {
		return nil, fmt.Errorf("%w: certificate unreadable", ErrSNSSignature)
	}
	s.mu.Lock()
	if s.certs == nil || len(s.certs) >= 16 {
		s.certs = map[string]*x509.Certificate{}
	}
	s.certs[raw] = c
	s.mu.Unlock()
	return c, nil
}

// Confirm visits a verified SubscriptionConfirmation's SubscribeURL, which
// is how an SNS subscription is confirmed.
func (s *SNS) Confirm(ctx context.Context, m *SNSMessage) error {
	u, err := snsURL(m.SubscribeURL)
	if err != nil {
		return err
	}
	_, err = s.get(ctx, u)
	return err
}

func (s *SNS) get(ctx context.Context, u *url.URL) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client().Do(req)
	if err != nil {
		return nil, errors.New("request failed") // the URL carries a token: not for error text
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 64<<10))
}

// sesNotification is what SES publishes to SNS about one message, as
// notifications (notificationType) or as event publishing (eventType).
type sesNotification struct {
	NotificationType string `json:"notificationType"`
	EventType        string `json:"eventType"`
	Bounce           struct {
		BounceType        string `json:"bounceType"`
		BounceSubType     string `json:"bounceSubType"`
		BouncedRecipients []struct {
			EmailAddress string `json:"emailAddress"`
			Status       string `json:"status"`
		} `json:"bouncedRecipients"`
	} `json:"bounce"`
	Complaint struct {
		ComplainedRecipients []struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"complainedRecipients"`
		ComplaintFeedbackType string `json:"complaintFeedbackType"`
	} `json:"complaint"`
	Mail struct {
		Source  string `json:"source"`
		Headers []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"headers"`
		CommonHeaders struct {
			MessageID string `json:"messageId"`
		} `json:"commonHeaders"`
	} `json:"mail"`
}

// sesSubtypeStatus stands in for a bounced recipient's missing status: SES
// names some failures only by subtype.
var sesSubtypeStatus = map[string]string{"NoEmail": "5.1.1", "MailboxFull": "4.2.2"}

// sesSenderSubtypes are bounce subtypes about the message, not the
// mailbox: whatever bounceType says, they never suppress the recipient
// (SES documents them as Transient).
var sesSenderSubtypes = map[string]bool{"MessageTooLarge": true, "ContentRejected": true, "AttachmentRejected": true}

// SESReport turns an SES notification (an SNS Notification's Message) into
// a report; nil for deliveries and other events, which need nothing done.
func SESReport(message string) (*Report, error) {
	var n sesNotification
	if err := json.Unmarshal([]byte(message), &n); err != nil {
		return nil, fmt.Errorf("not an SES notification: %w", err)
	}
	rep := &Report{ReturnPath: n.Mail.Source, MessageID: n.Mail.CommonHeaders.MessageID}
	for _, h := range n.Mail.Headers {
		if rep.MessageID == "" && strings.EqualFold(h.Name, "Message-ID") {
			rep.MessageID = h.Value
		}
	}
	kind := n.NotificationType
	if kind == "" {
		kind = n.EventType
	}
	switch kind {
	case "Bounce":
		rep.Kind = DSN
		rep.Permanent = n.Bounce.BounceType == "Permanent" && !sesSenderSubtypes[n.Bounce.BounceSubType]
		for _, r := range n.Bounce.BouncedRecipients {
			status := mail.EnhancedStatus(r.Status)
			if status == "" {
				status = sesSubtypeStatus[n.Bounce.BounceSubType]
			}
			rep.Statuses = append(rep.Statuses, status)
			rep.Recipients = append(rep.Recipients, r.EmailAddress)
		}
	case "Complaint":
		rep.Kind, rep.FeedbackType = Complaint, feedbackType(n.Complaint.ComplaintFeedbackType)
		for _, r := range n.Complaint.ComplainedRecipients {
			rep.Recipients = append(rep.Recipients, r.EmailAddress)
		}
	default:
		return nil, nil
	}
	return rep, nil
}
