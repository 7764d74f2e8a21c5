package templates

import (
	"strings"
	"testing"
)

// BenchmarkRenderEmail measures rendering one reminder (subject, text and
// HTML parts) with cached templates: the send path does it once per reminder.
func BenchmarkRenderEmail(b *testing.B) {
	r, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	e := Sample("Pink Shirts", "en-GB", 1)
	out, err := r.Email("pink", "en-GB", e) // parses and caches the set, as the first send does
	if err != nil {
		b.Fatal(err)
	}
	if !strings.Contains(out.HTML, e.UnsubscribeURL) {
		b.Fatal("rendered HTML lacks the unsubscribe link")
	}
	b.SetBytes(int64(len(out.Subject) + len(out.Text) + len(out.HTML)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Email("pink", "en-GB", e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFormatMoney measures formatting one amount per iteration across
// locales with 0, 2 and 3 decimals: the send path formats about 7 per reminder.
func BenchmarkFormatMoney(b *testing.B) {
	cases := []struct{ code, locale string }{{"GBP", "en-GB"}, {"EUR", "de-DE"}, {"KWD", "ar-KW"}, {"JPY", "ja-JP"}}
	for _, c := range cases {
		if s := FormatMoney(123456, c.code, c.locale); s == "" || strings.HasPrefix(s, c.code+" ") {
			b.Fatalf("%s %s: got %q, the unknown-currency fallback", c.code, c.locale, s)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c := cases[i%len(cases)]
		if FormatMoney(123456, c.code, c.locale) == "" {
			b.Fatalf("%s %s: empty", c.code, c.locale)
		}
		i++
	}
}
