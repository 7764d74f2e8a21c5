package templates

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFormatMoney(t *testing.T) {
	t.Parallel()
	cases := []struct {
		minor        int64
		code, locale string
		want         string
	}{
		{8900, "GBP", "en-GB", "£89.00"},
		{5, "USD", "en-US", "$0.05"},
		{123456, "EUR", "de-DE", "1.234,56\u00a0€"},
		{123456789, "EUR", "fr-FR", "1\u202f234\u202f567,89\u00a0€"},
		{500, "JPY", "en", "¥500"},
		{-250, "GBP", "en-GB", "-£2.50"},
	}
	for _, c := range cases {
		got := FormatMoney(c.minor, c.code, c.locale)
		// Printers differ in which space they group French thousands with; compare without it.
		norm := strings.NewReplacer("\u202f", " ", "\u00a0", " ")
		assert.Equal(t, norm.Replace(c.want), norm.Replace(got), "%d %s %s", c.minor, c.code, c.locale)
	}
}

func TestEmailHasEveryRequiredPart(t *testing.T) {
	t.Parallel()
	r, err := New()
	require.NoError(t, err)
	e := Email{Step: 1, Locale: "en-GB", StorefrontName: "Pink Shirts", CustomerName: "Ann",
		Lines: []Line{{Name: `Shirt <script>alert(1)</script>`, Quantity: 2, UnitPrice: "£89.00", Total: "£178.00",
			ImageURL: "https://pink.example/i.jpg"}},
		Total: "£178.00", BasketURL: "https://ba.example/r/TOKEN", UnsubscribeURL: "https://ba.example/u/TOKEN",
		HelpAddress: "hello@pink.example", PostalAddress: "1 Jermyn Street"}
	out, err := r.Email(e)
	require.NoError(t, err)
	assert.Equal(t, "Can we help with your basket at Pink Shirts?", out.Subject)
	for name, part := range map[string]string{"text": out.Text, "html": out.HTML} {
		for _, want := range []string{"Hello Ann", "£178.00", "https://ba.example/r/TOKEN", "https://ba.example/u/TOKEN",
			"newsletters you chose to receive are unaffected", "1 Jermyn Street", "hello@pink.example", "Need help?"} {
			assert.Contains(t, part, want, name)
		}
	}
	assert.NotContains(t, out.HTML, "<script>", "storefront-supplied names are escaped")
	assert.Contains(t, out.HTML, `alt="Shirt &lt;script&gt;`)

	e.Step = 2
	out, err = r.Email(e)
	require.NoError(t, err)
	assert.Equal(t, "Your basket at Pink Shirts is saved", out.Subject)
}
