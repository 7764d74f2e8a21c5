package suppression

import (
	"testing"

	"github.com/basketassist/basketassist/secrets"
)

func benchTokens(b *testing.B) (*Tokens, Token) {
	b.Helper()
	k := secrets.Throwaway()
	return NewTokens(k), Token{Scope: BasketAssistance, Storefront: "pink", Recipient: k.Recipient("ann@example.com"),
		Masked: secrets.MaskAddress("ann@example.com"), BasketID: "b_42", Step: 2, Locale: "de-AT"}
}

// BenchmarkTokenEncode measures signing one link token: the send path encodes a few per reminder.
func BenchmarkTokenEncode(b *testing.B) {
	ts, tok := benchTokens(b)
	s := ts.Encode(tok)
	if got, err := ts.Decode(s); err != nil || got != tok {
		b.Fatalf("round trip: got %+v, %v", got, err)
	}
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		if ts.Encode(tok) != s {
			b.Fatal("encoding is not deterministic")
		}
	}
}

// BenchmarkTokenDecode measures verifying one link token: every customer page and unsubscribe does it.
func BenchmarkTokenDecode(b *testing.B) {
	ts, tok := benchTokens(b)
	s := ts.Encode(tok)
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		got, err := ts.Decode(s)
		if err != nil {
			b.Fatal(err)
		}
		if got != tok {
			b.Fatalf("decoded %+v, want %+v", got, tok)
		}
	}
}
