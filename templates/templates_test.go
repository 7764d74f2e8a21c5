package templates

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
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

func builtin(t *testing.T) *Renderer {
	t.Helper()
	r, err := New(Options{})
	require.NoError(t, err)
	return r
}

func TestEmailHasEveryRequiredPart(t *testing.T) {
	t.Parallel()
	r := builtin(t)
	e := Sample("Pink Shirts", "en-GB", 1)
	e.Lines[0].Name = `Shirt <script>alert(1)</script>`
	out, err := r.Email("pink", "en-GB", e)
	require.NoError(t, err)
	assert.Equal(t, "Can we help with your basket at Pink Shirts?", out.Subject)
	assert.Equal(t, "en", out.Lang)
	for name, part := range map[string]string{"text": out.Text, "html": out.HTML} {
		for _, want := range []string{"Hello Ann", "£178.00", "£223.00", e.BasketURL, e.UnsubscribeURL, e.PreferencesURL,
			"newsletters you chose to receive are unaffected", e.PostalAddress, "help@shop.example", "Need help?",
			"You are receiving this because"} {
			assert.Contains(t, part, want, name)
		}
	}
	assert.NotContains(t, out.HTML, "<script>", "storefront-supplied names are escaped")
	assert.Contains(t, out.HTML, `alt="Shirt &lt;script&gt;`)
	assert.Contains(t, out.HTML, `<html lang="en">`)

	e.Step = 2
	out, err = r.Email("pink", "en-GB", e)
	require.NoError(t, err)
	assert.Equal(t, "Your basket at Pink Shirts is saved", out.Subject)
}

func TestLocalesAndSteps(t *testing.T) {
	t.Parallel()
	r := builtin(t)
	assert.Equal(t, []string{"de", "en", "fr"}, r.Locales())
	subjects := map[string][2]string{
		"en-GB": {"Can we help with your basket at Pink?", "Your basket at Pink is saved"},
		"de-DE": {"Können wir Ihnen bei Ihrem Warenkorb bei Pink helfen?", "Ihr Warenkorb bei Pink ist gespeichert"},
		"fr-FR": {"Pouvons-nous vous aider avec votre panier chez Pink ?", "Votre panier chez Pink est sauvegardé"},
	}
	for locale, want := range subjects {
		for step := 1; step <= 2; step++ {
			out, err := r.Email("pink", "en-GB", Sample("Pink", locale, step))
			require.NoError(t, err)
			assert.Equal(t, want[step-1], out.Subject, "%s step %d", locale, step)
		}
	}
	de, err := r.Email("pink", "en-GB", Sample("Pink", "de-DE", 1))
	require.NoError(t, err)
	assert.Contains(t, de.Text, "223,00\u00a0£", "money formatted for the locale")
	assert.Contains(t, de.HTML, "Zurück zum Warenkorb")
	assert.Contains(t, de.Text, "Newsletter, die Sie abonniert haben, bleiben unverändert")

	out, err := r.Email("pink", "en-GB", Sample("Pink", "en-GB", 3))
	require.NoError(t, err)
	assert.Equal(t, "Your basket at Pink is saved", out.Subject, "later steps reuse step 2 unless given their own")
}

func TestLocaleFallbackChain(t *testing.T) {
	t.Parallel()
	r := builtin(t)
	cases := []struct{ locale, storefrontDefault, lang string }{
		{"de-AT", "en-GB", "de"}, // the customer's language
		{"es-ES", "fr-FR", "fr"}, // no Spanish: the storefront's default
		{"es-ES", "es-ES", "en"}, // neither: built-in English
		{"", "de-DE", "de"},      // unknown customer locale
		{"not a locale", "", "en"},
	}
	for _, c := range cases {
		out, err := r.Email("pink", c.storefrontDefault, Sample("Pink", c.locale, 1))
		require.NoError(t, err)
		assert.Equal(t, c.lang, out.Lang, "%q with default %q", c.locale, c.storefrontDefault)
	}
	assert.Equal(t, []string{"en-GB", "en", "de-DE", "de"}, localeChain("en-GB", "de-DE"))
}

func write(t *testing.T, dir, rel, text string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
}

func TestOverrideFolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "en/step1.tmpl", `{{define "subject"}}A question about your {{.StorefrontName}} basket{{end}}{{define "intro"}}Hi from every shop.{{end}}`)
	write(t, dir, "pink/en/step1.tmpl", `{{define "subject"}}Pink only{{end}}{{define "intro"}}Hi from Pink.{{end}}`)
	write(t, dir, "es/step1.tmpl", `{{define "subject"}}¿Le ayudamos con su cesta?{{end}}{{define "intro"}}Hola.{{end}}`)
	r, err := New(Options{Dir: dir, Storefronts: []string{"pink", "blue"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"de", "en", "es", "fr"}, r.Locales(), "the storefront folder is not a locale")

	pink, err := r.Email("pink", "en-GB", Sample("Pink", "en-GB", 1))
	require.NoError(t, err)
	assert.Equal(t, "Pink only", pink.Subject)
	assert.Contains(t, pink.Text, "Hi from Pink.")
	assert.Contains(t, pink.Text, "Return to your basket", "common parts still come from the built-in locale")

	blue, err := r.Email("blue", "en-GB", Sample("Blue", "en-GB", 1))
	require.NoError(t, err)
	assert.Equal(t, "A question about your Blue basket", blue.Subject)

	es, err := r.Email("blue", "en-GB", Sample("Blue", "es-ES", 1))
	require.NoError(t, err)
	assert.Equal(t, "es", es.Lang)
	assert.Equal(t, "¿Le ayudamos con su cesta?", es.Subject)

	step2, err := r.Email("blue", "en-GB", Sample("Blue", "en-GB", 2))
	require.NoError(t, err)
	assert.Equal(t, "Your basket at Blue is saved", step2.Subject, "not overridden: built-in")
}

func TestBrokenTemplateNamesFileAndLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "pink/de/step2.tmpl", "{{define \"subject\"}}Hallo{{end}}\n{{define \"intro\"}}{{.NoSuchField}{{end}}\n")
	r, err := New(Options{Dir: dir, Storefronts: []string{"pink"}})
	require.NoError(t, err)
	err = r.Check([]Storefront{{ID: "pink", Name: "Pink", DefaultLocale: "en-GB"}}, 2)
	require.Error(t, err)
	assert.Contains(t, err.Error(), filepath.Join(dir, "pink/de/step2.tmpl")+":2")

	write(t, dir, "pink/de/step2.tmpl", "{{define \"subject\"}}Hallo{{end}}\n{{define \"intro\"}}{{.NoSuchField}}{{end}}\n")
	r, err = New(Options{Dir: dir, Storefronts: []string{"pink"}})
	require.NoError(t, err)
	err = r.Check([]Storefront{{ID: "pink", Name: "Pink", DefaultLocale: "en-GB"}}, 2)
	require.Error(t, err, "executing with sample data finds a missing field too")
	assert.Contains(t, err.Error(), "NoSuchField")

	_, err = New(Options{Dir: filepath.Join(dir, "missing")})
	assert.ErrorContains(t, err, "templates.dir")
}

// An override may reword everything but must keep the unsubscribe link
// and the postal address in both parts: start-up refuses one that does not.
func TestCheckRefusesAnEmailWithoutUnsubscribeLinkOrPostalAddress(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "pink/layout.txt.tmpl", "{{template \"intro\" .}}\n{{.UnsubscribeURL}}\n")
	write(t, dir, "pink/layout.html.tmpl", "<p>{{template \"intro\" .}}</p><p>{{.PostalAddress}}</p>")
	r, err := New(Options{Dir: dir, Storefronts: []string{"pink", "blue"}})
	require.NoError(t, err)
	err = r.Check([]Storefront{{ID: "pink", Name: "Pink", DefaultLocale: "en-GB"}}, 1)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "storefront pink, locale de, step 1: the text part shows no postal address ({{.PostalAddress}})")
	assert.Contains(t, err.Error(), "the HTML part shows no unsubscribe link ({{.UnsubscribeURL}})")
	assert.NotContains(t, err.Error(), "the text part shows no unsubscribe link")
	assert.NotContains(t, err.Error(), "the HTML part shows no postal address")
	assert.NoError(t, r.Check([]Storefront{{ID: "blue", Name: "Blue", DefaultLocale: "en-GB"}}, 1), "the built-in layouts show both")
}

func TestBuiltInTemplatesPassTheCheckAndStaySmall(t *testing.T) {
	t.Parallel()
	r := builtin(t)
	require.NoError(t, r.Check([]Storefront{{ID: "pink", Name: "Pink Shirts", DefaultLocale: "en-GB"}}, 2))
	e := Sample("Pink Shirts", "fr-FR", 2)
	for len(e.Lines) < 30 {
		e.Lines = append(e.Lines, e.Lines[0])
	}
	out, err := r.Email("pink", "en-GB", e)
	require.NoError(t, err)
	assert.Less(t, len(out.HTML), 100*1024, "under 100 KB (Gmail clips at 102 KB), even with 30 items")
	assert.Equal(t, strings.Count(out.HTML, "<img "), strings.Count(out.HTML, `alt="`), "every image has alt text")
	assert.Contains(t, out.HTML, `name="color-scheme" content="light dark"`)
}

// Every int64 formats, in every scale: no overflow, no panic.
func TestFormatMoneyHandlesEveryInt64(t *testing.T) {
	assert.Equal(t, "-KWD9,223,372,036,854,775.808", FormatMoney(math.MinInt64, "KWD", "en-GB"))
	assert.Equal(t, "£92,233,720,368,547,758.07", FormatMoney(math.MaxInt64, "GBP", "en-GB"))
	assert.Equal(t, "-£0.01", FormatMoney(-1, "GBP", "en-GB"))
	assert.Equal(t, "-\uffe59,223,372,036,854,775,808", FormatMoney(math.MinInt64, "JPY", "ja-JP"))
	assert.Equal(t, FormatMoney(8900, "GBP", "en-GB"), FormatMoney(8900, "GBP", "en-GB-x-0000001"), "a private-use suffix formats as its locale")
}

// A thousand distinct locale strings that resolve to the same files share
// one parsed template set: memory does not grow with what arrives. The
// test logs the process RSS before and after, the figure issue 11 asks
// for: go test ./templates -run TestLocaleStringsShareParsedTemplates -v
func TestLocaleStringsShareParsedTemplates(t *testing.T) {
	r, err := New(Options{})
	require.NoError(t, err)
	before := rssKB(t)
	for i := range 1000 {
		_, err := r.Email("pink", "en-GB", Email{Step: 1, Locale: fmt.Sprintf("en-GB-x-%07d", i), StorefrontName: "Pink",
			Total: "£1.00", BasketURL: "https://b/r/x", UnsubscribeURL: "https://b/u/x", PostalAddress: "1 Street"})
		require.NoError(t, err)
	}
	assert.Len(t, r.byFiles, 1, "one parsed set for every en-GB-x-… locale")
	t.Logf("RSS before %d KB, after 1,000 emails with 1,000 distinct locale strings %d KB", before, rssKB(t))
}

func rssKB(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return n
		}
	}
	return 0
}
