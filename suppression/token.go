package suppression

import (
	"crypto/hmac"
	"encoding/base64"
	"errors"

	"github.com/basketassist/basketassist/secrets"
)

// ErrInvalidToken is returned for a token that is malformed, tampered with or
// signed with another key.
var ErrInvalidToken = errors.New("suppression: invalid token")

// Token is what an email's links carry: who it was sent to (as a hash, plus a
// masked address to show on pages), which storefront and basket it was about,
// and which scope its unsubscribe link stops. Tokens do not expire: an
// unsubscribe link must work for as long as the email exists.
type Token struct {
	Scope      Scope
	Storefront string
	Recipient  secrets.Recipient
	Masked     string // e.g. "a***@example.com"
	BasketID   string
	Step       int
	Locale     string // the customer's locale, for pages in their language
}

const (
	tokenVersion = 1
	macSize      = 16 // a truncated HMAC-SHA256: 128 bits is ample against forgery
)

var scopeCodes = []Scope{BasketAssistance, Newsletter, All}

// Tokens signs and verifies tokens.
type Tokens struct{ keys *secrets.Keys }

// NewTokens returns Tokens using keys' signing key.
func NewTokens(keys *secrets.Keys) *Tokens { return &Tokens{keys: keys} }

// Encode returns t as an opaque, URL-safe, signed string.
func (ts *Tokens) Encode(t Token) string {
	b := []byte{tokenVersion, scopeCode(t.Scope), byte(t.Step)}
	b = appendShort(b, t.Storefront)
	b = append(b, t.Recipient[:]...)
	b = appendShort(b, t.Masked)
	b = appendShort(b, t.BasketID)
	b = appendShort(b, t.Locale)
	b = append(b, ts.mac(b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode verifies s and returns its token, or ErrInvalidToken.
func (ts *Tokens) Decode(s string) (Token, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 3+macSize {
		return Token{}, ErrInvalidToken
	}
	body, mac := b[:len(b)-macSize], b[len(b)-macSize:]
	if !hmac.Equal(mac, ts.mac(body)) || body[0] != tokenVersion || int(body[1]) >= len(scopeCodes) {
		return Token{}, ErrInvalidToken
	}
	t := Token{Scope: scopeCodes[body[1]], Step: int(body[2])}
	r := reader{b: body[3:]}
	t.Storefront = r.short()
	copy(t.Recipient[:], r.take(len(t.Recipient)))
	t.Masked = r.short()
	t.BasketID = r.short()
	t.Locale = r.short()
	if r.bad || len(r.b) != 0 {
		return Token{}, ErrInvalidToken
	}
	return t, nil
}

func (ts *Tokens) mac(body []byte) []byte {
	return ts.keys.Sign(append([]byte("token/"), body...))[:macSize]
}

func scopeCode(s Scope) byte {
	for i, c := range scopeCodes {
		if c == s {
			return byte(i)
		}
	}
	return 0 // the zero scope signs as basket_assistance, the only scope an email link carries
}

func appendShort(b []byte, s string) []byte {
	if len(s) > 255 {
		s = s[:255]
	}
	return append(append(b, byte(len(s))), s...)
}

type reader struct {
	b   []byte
	bad bool
}

func (r *reader) take(n int) []byte {
	if r.bad || len(r.b) < n {
		r.bad = true
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) short() string {
	n := r.take(1)
	if n == nil {
		return ""
	}
	return string(r.take(int(n[0])))
}
