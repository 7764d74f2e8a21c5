package suppression

import (
	"strings"
	"testing"

	"github.com/basketassist/basketassist/secrets"
)

func fuzzKeys(f *testing.F) *secrets.Keys {
	k := secrets.Throwaway()
	return k
}

// FuzzTokenDecode: a link token from anywhere never panics the decoder, and
// whatever decodes encodes back to a token that decodes the same.
func FuzzTokenDecode(f *testing.F) {
	ts := NewTokens(fuzzKeys(f))
	f.Add(ts.Encode(Token{Scope: BasketAssistance, Storefront: "pink", BasketID: "b_1", Step: 1, Locale: "en-GB", Masked: "a***@example.com"}))
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ts.Decode(s)
		if err != nil {
			return
		}
		back, err := ts.Decode(ts.Encode(tok))
		if err != nil || back != tok {
			t.Fatalf("round trip: %+v → %+v, %v", tok, back, err)
		}
	})
}

// FuzzImportRow: a CSV row never panics the parser, and a refusal never
// quotes the address (problems end up in terminals and logs).
func FuzzImportRow(f *testing.F) {
	o := ImportOptions{Keys: fuzzKeys(f), Storefronts: func(id string) bool { return id == "pink" }, Origin: Operator}
	f.Add("ann@example.com", "basket_assistance", "pink", "unsubscribed", "recipient", "2026-11-22T10:00:00Z")
	f.Add("hmac-sha256:00", "all", "", "", "", "")
	f.Add("Ann <ann@example.com>", "newsletter", "blue", "x", "y", "yesterday")
	f.Fuzz(func(t *testing.T, email, scope, storefront, reason, origin, created string) {
		row := map[string]string{"email": email, "scope": scope, "storefront": storefront, "reason": reason,
			"origin": origin, "created_at": created}
		_, problem := parseRow(func(k string) string { return row[k] }, o)
		if problem != "" && strings.Contains(email, "@") && len(email) > 3 && strings.Contains(problem, email) {
			t.Fatalf("the problem quotes the address: %q", problem)
		}
	})
}
