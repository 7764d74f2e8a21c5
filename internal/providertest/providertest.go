// Package providertest plays the email providers' side of the feedback
// webhooks in tests: an SNS that signs with a generated key and serves its
// certificate, and a SendGrid that signs event batches.
package providertest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// CertURL is where the fake SNS serves its signing certificate.
const CertURL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000000000000000000000000000test.pem"

// Topic is an SNS topic ARN the tests configure.
const Topic = "arn:aws:sns:eu-west-1:123456789012:ses-feedback"

// SNS signs messages as Amazon SNS does and answers its HTTPS URLs.
type SNS struct {
	key     *rsa.PrivateKey
	certPEM []byte

	mu     sync.Mutex
	visits []string // URLs fetched other than the certificate
}

// NewSNS generates a key and a self-signed certificate.
func NewSNS(t testing.TB) *SNS {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sns.amazonaws.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &SNS{key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// Client is an HTTP client whose every request is answered by this SNS.
func (s *SNS) Client() *http.Client {
	return &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		if r.URL.String() == CertURL {
			return respond(http.StatusOK, s.certPEM), nil
		}
		s.mu.Lock()
		s.visits = append(s.visits, r.URL.String())
		s.mu.Unlock()
		return respond(http.StatusOK, []byte("<ConfirmSubscriptionResponse/>")), nil
	})}
}

// Visits are the URLs visited other than the certificate (subscription confirmations).
func (s *SNS) Visits() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.visits...)
}

// Message is an SNS delivery; Sign fills in its signature fields.
type Message struct {
	Type             string
	MessageId        string //nolint:revive // SNS's spelling
	Token            string `json:",omitempty"`
	TopicArn         string
	Subject          string `json:",omitempty"`
	Message          string
	Timestamp        string
	SignatureVersion string
	Signature        string
	SigningCertURL   string
	SubscribeURL     string `json:",omitempty"`
	UnsubscribeURL   string `json:",omitempty"`
}

// Notification wraps an SES notification as SNS delivers it, signed.
func (s *SNS) Notification(topic, sesJSON string) []byte {
	return s.Sign(Message{Type: "Notification", MessageId: "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324", TopicArn: topic,
		Message: sesJSON, Timestamp: "2026-12-03T10:00:00.000Z",
		UnsubscribeURL: "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=" + topic + ":c9135db0"})
}

// Sign signs m with SignatureVersion 2 (SHA256withRSA) and returns its JSON.
// The string to sign is built here apart from bounce's on purpose: a test
// sharing the code under test would prove nothing.
func (s *SNS) Sign(m Message) []byte {
	m.SignatureVersion, m.SigningCertURL = "2", CertURL
	var b strings.Builder
	add := func(name, value string) { b.WriteString(name + "\n" + value + "\n") }
	add("Message", m.Message)
	add("MessageId", m.MessageId)
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
	digest := sha256.Sum256([]byte(b.String()))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, digest[:])
	if err != nil {
		panic(err)
	}
	m.Signature = base64.StdEncoding.EncodeToString(sig)
	out, _ := json.Marshal(m)
	return out
}

// SendGrid signs event webhook batches with a generated P-256 key.
type SendGrid struct {
	key *ecdsa.PrivateKey
}

// NewSendGrid generates a key.
func NewSendGrid(t testing.TB) *SendGrid {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &SendGrid{key: key}
}

// VerificationKey is the public key as SendGrid's settings show it.
func (s *SendGrid) VerificationKey() string {
	der, err := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

// Sign returns the signature and timestamp headers for body.
func (s *SendGrid) Sign(body []byte) (signature, timestamp string) {
	timestamp = strconv.FormatInt(time.Now().Unix(), 10)
	h := sha256.Sum256(append([]byte(timestamp), body...))
	sig, err := ecdsa.SignASN1(rand.Reader, s.key, h[:])
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(sig), timestamp
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func respond(status int, body []byte) *http.Response {
	return &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body))}
}
