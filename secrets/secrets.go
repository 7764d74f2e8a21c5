// Package secrets derives basketassist's keys from the one configured secret
// (secrets.key) and applies them: AES-GCM sealing of customer fields, keyed
// hashes of email addresses, and signatures for links.
//
// Each purpose gets its own key (HKDF-SHA256 with a purpose label), so a
// signature can never be replayed as a recipient hash and vice versa.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/mail"
	"strings"
	"sync"
)

// KeySize is the length in bytes of secrets.key once base64-decoded.
const KeySize = 32

// ErrOpen is returned by Open when a sealed value was tampered with, was
// sealed under another key, or belongs to another context.
var ErrOpen = errors.New("secrets: cannot open sealed value")

// Keys holds the derived keys. The zero value is not usable; build it with New.
type Keys struct {
	recipient []byte
	sign      []byte
	aead      cipher.AEAD
	// Keyed hashes are reused: hmac.New derives the padded keys each time,
	// which cost more than hashing a short address.
	recipients, signs sync.Pool
}

// ParseKey decodes secrets.key (standard or URL-safe base64) and checks its length.
func ParseKey(encoded string) ([]byte, error) {
	encoded = strings.TrimSpace(encoded)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(encoded); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("must decode to %d bytes, got %d", KeySize, len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("must be base64 (generate one with: openssl rand -base64 32)")
}

// GenerateKey returns a fresh random key, base64-encoded, for dev mode and docs.
func GenerateKey() string { return base64.StdEncoding.EncodeToString(randomKey()) }

// Throwaway returns the keys of a fresh random master key that nothing
// else holds: for tokens that must work nowhere else (a preview's sample
// links), and for tests.
func Throwaway() *Keys {
	k, err := New(randomKey())
	if err != nil {
		panic(err) // randomKey is KeySize bytes
	}
	return k
}

func randomKey() []byte {
	b := make([]byte, KeySize)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return b
}

// New derives the purpose keys from master, which must be KeySize bytes.
func New(master []byte) (*Keys, error) {
	if len(master) != KeySize {
		return nil, fmt.Errorf("secrets: master key must be %d bytes, got %d", KeySize, len(master))
	}
	derive := func(label string) []byte {
		k, err := hkdf.Key(sha256.New, master, nil, "basketassist/v1/"+label, 32)
		if err != nil {
			panic(err) // only fails for lengths far beyond 32 bytes
		}
		return k
	}
	block, err := aes.NewCipher(derive("seal"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	k := &Keys{recipient: derive("recipient"), sign: derive("sign"), aead: aead}
	k.recipients.New = func() any { return &recipientHasher{mac: hmac.New(sha256.New, k.recipient)} }
	k.signs.New = func() any { return hmac.New(sha256.New, k.sign) }
	return k, nil
}

// Seal encrypts and authenticates plaintext. context is bound to the result
// (AES-GCM additional data): Open with another context fails, so a sealed
// customer cannot be moved to another basket.
func (k *Keys) Seal(plaintext []byte, context string) []byte {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	_, _ = rand.Read(nonce)
	return k.aead.Seal(nonce, nonce, plaintext, []byte(context))
}

// Open reverses Seal. It returns ErrOpen when the value is not authentic for context.
func (k *Keys) Open(sealed []byte, context string) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n+k.aead.Overhead() {
		return nil, ErrOpen
	}
	plain, err := k.aead.Open(nil, sealed[:n], sealed[n:], []byte(context))
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// Sign returns an HMAC-SHA256 of data under the signing key.
func (k *Keys) Sign(data []byte) []byte {
	m := k.signs.Get().(hash.Hash)
	defer k.signs.Put(m)
	m.Reset()
	m.Write(data)
	return m.Sum(nil)
}

// Recipient is the keyed hash of a normalised email address. It is what
// Redis, tokens and logs carry instead of the address.
type Recipient [sha256.Size]byte

// String returns the hash in lower-case hex.
func (r Recipient) String() string { return hex.EncodeToString(r[:]) }

// IsZero reports whether r is the zero value (no recipient).
func (r Recipient) IsZero() bool { return r == Recipient{} }

// ParseRecipient parses the hex form produced by String.
func ParseRecipient(s string) (Recipient, error) {
	var r Recipient
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(r) {
		return r, errors.New("secrets: recipient hash must be 64 hex characters")
	}
	copy(r[:], b)
	return r, nil
}

// Recipient returns the keyed hash (HMAC-SHA256) of the normalised address.
func (k *Keys) Recipient(address string) Recipient {
	h := k.recipients.Get().(*recipientHasher)
	defer k.recipients.Put(h)
	h.mac.Reset()
	// Through a kept buffer: []byte(address) would allocate per address,
	// and bulk checks hash thousands.
	h.buf = append(h.buf[:0], NormalizeAddress(address)...)
	h.mac.Write(h.buf)
	var r Recipient
	h.mac.Sum(r[:0])
	return r
}

// recipientHasher is a reusable keyed hash and its input buffer.
type recipientHasher struct {
	mac hash.Hash
	buf []byte
}

// AppendHex appends String's form of r to b.
func (r Recipient) AppendHex(b []byte) []byte { return hex.AppendEncode(b, r[:]) }

// NormalizeAddress trims and lower-cases an address, so that "Ann@Example.com "
// and "ann@example.com" are one recipient. Provider-specific rewriting (dots,
// plus tags) is deliberately not done: those can be different mailboxes.
func NormalizeAddress(address string) string {
	return strings.ToLower(strings.TrimSpace(address))
}

// MaskAddress keeps the first character of the local part and the domain:
// "ann@example.com" becomes "a***@example.com". It is what pages and logs may show.
func MaskAddress(address string) string {
	address = NormalizeAddress(address)
	at := strings.LastIndexByte(address, '@')
	if at <= 0 {
		return "***"
	}
	return address[:1] + "***" + address[at:]
}

// MaxAddressLen is the longest address accepted (RFC 5321's path limit).
const MaxAddressLen = 254

// ErrNotAnAddress says a value is not a bare address. Its text never
// quotes the value: it ends up in logs.
var ErrNotAnAddress = errors.New("is not a valid address (want a bare address like name@example.com)")

// CheckTypedAddress is CheckAddress for an address an operator typed or
// pasted (the admin API, the command line, a CSV): space around it is
// ignored, as the recipient hash ignores it (NormalizeAddress).
func CheckTypedAddress(s string) error { return CheckAddress(strings.TrimSpace(s)) }

// CheckAddress is the one rule for an email address, wherever one
// arrives (events, the admin API, the command line, CSV): a bare address
// (no display name, nothing around it), whose domain has a dot, at most
// MaxAddressLen long.
func CheckAddress(s string) error {
	if s == "" || len(s) > MaxAddressLen {
		return ErrNotAnAddress
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
		return ErrNotAnAddress
	}
	return nil
}
