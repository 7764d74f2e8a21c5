package mail_test

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/mail"
	"github.com/basketassist/basketassist/secrets"
	"github.com/basketassist/basketassist/suppression"
	"github.com/basketassist/basketassist/templates"
	"github.com/basketassist/basketassist/worker"
)

// sampleMessage composes a real reminder, as the worker would.
func sampleMessage(t *testing.T, locale string, step int) *mail.Message {
	t.Helper()
	keys := secrets.Throwaway()
	renderer, err := templates.New(templates.Options{})
	require.NoError(t, err)
	c := &worker.Composer{Tokens: suppression.NewTokens(keys), Keys: keys, Renderer: renderer, PublicURL: "https://basket.pink.example"}
	sf := basket.Storefront{ID: "pink", Name: "Pink Shirts", From: "Pink Shirts <hello@pink.example>",
		BasketURL: "https://pink.example/basket/{basket_id}", PostalAddress: "1 Jermyn Street, London SW1Y 6JB", DefaultLocale: "en-GB"}
	b := basket.Basket{Storefront: "pink", ID: "b_42", Version: 1, LastActivity: time.Now(),
		Customer: &basket.Customer{Email: "ann@example.com", Name: "Ann", Locale: locale},
		Contents: basket.Contents{Currency: "GBP", Items: []basket.Item{
			{SKU: "S-1", Name: "Oxford shirt", Quantity: 1, UnitPrice: 8900, URL: "https://pink.example/p/s-1", ImageURL: "https://pink.example/i/s-1.jpg"},
			{SKU: "T-2", Name: "Silk tie", Quantity: 2, UnitPrice: 4500}}}}
	m, err := c.Compose(sf, b, step, keys.Recipient("ann@example.com"))
	require.NoError(t, err)
	return m
}

func writeKey(t *testing.T, key crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "dkim.pem")
	require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	return p
}

func TestDKIMSignatureVerifies(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	for name, c := range map[string]struct {
		key              crypto.Signer
		domain, selector string
		record           func() string
	}{
		"rsa": {rsaKey, "pink.example", "ba2026", func() string {
			der, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
			return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
		}},
		"ed25519": {edKey, "pink.example", "ba2026", func() string {
			return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(edKey.Public().(ed25519.PublicKey))
		}},
		// A long d= and s= make the DKIM-Signature header fold.
		"long domain and selector": {edKey, "mail.basket-assistance.pink-shirts-international-holdings.example",
			"basketassist-2026-11-rotation-a", func() string {
				return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(edKey.Public().(ed25519.PublicKey))
			}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			signer, err := mail.NewDKIMSigner(mail.DKIMOptions{Domain: c.domain, Selector: c.selector, KeyFile: writeKey(t, c.key)})
			require.NoError(t, err)
			var eml bytes.Buffer
			require.NoError(t, mail.WriteEML(&eml, sampleMessage(t, "de-DE", 1), signer))

			var looked []string
			verifications, err := dkim.VerifyWithOptions(bytes.NewReader(eml.Bytes()), &dkim.VerifyOptions{
				LookupTXT: func(domain string) ([]string, error) {
					looked = append(looked, domain)
					return []string{c.record()}, nil
				}})
			require.NoError(t, err)
			require.Len(t, verifications, 1)
			v := verifications[0]
			require.NoError(t, v.Err, "the signature verifies")
			assert.Equal(t, c.domain, v.Domain)
			assert.Equal(t, []string{c.selector + "._domainkey." + c.domain}, looked)
			for _, h := range []string{"from", "to", "subject", "date", "message-id", "list-unsubscribe", "list-unsubscribe-post"} {
				assert.Contains(t, lower(v.HeaderKeys), h, "RFC 8058 wants %s signed", h)
			}

			tampered := bytes.Replace(eml.Bytes(), []byte("List-Unsubscribe-Post: List-Unsubscribe=One-Click"), []byte("List-Unsubscribe-Post: List-Unsubscribe=One-Clack"), 1)
			require.NotEqual(t, eml.Bytes(), tampered)
			verifications, err = dkim.VerifyWithOptions(bytes.NewReader(tampered), &dkim.VerifyOptions{
				LookupTXT: func(string) ([]string, error) { return []string{c.record()}, nil }})
			require.NoError(t, err)
			assert.Error(t, verifications[0].Err, "a changed one-click header breaks the signature")
		})
	}
}

func lower(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToLower(s)
	}
	return out
}

func TestMessageHeadersForDeliverability(t *testing.T) {
	t.Parallel()
	var eml bytes.Buffer
	require.NoError(t, mail.WriteEML(&eml, sampleMessage(t, "fr-FR", 2), nil))
	head := eml.String()[:strings.Index(eml.String(), "\r\n\r\n")]
	assert.NotContains(t, head, "User-Agent")
	assert.NotContains(t, head, "X-Mailer")
	parsed, err := netmail.ReadMessage(strings.NewReader(eml.String())) // unfolds what go-mail folded
	require.NoError(t, err)
	assert.Regexp(t, `^<basket\.[0-9a-f]{24}\.s2\.[0-9a-f]{12}@pink\.example>$`, parsed.Header.Get("Message-Id"),
		"signed, and on the From domain")
	assert.Contains(t, head, "List-Id: Pink Shirts basket assistance")
	assert.Contains(t, head, "Content-Language: fr")
	assert.Contains(t, head, "multipart/alternative")
}
