// Package templates renders basketassist's emails and customer pages from
// templates: embedded defaults in English, German and French, optionally
// overridden from a folder (templates.dir). Text parts use text/template,
// HTML parts html/template.
//
// An email is built from three files: a language-neutral layout
// (layout.txt.tmpl and layout.html.tmpl), a locale's common.tmpl (greeting,
// footer, labels) and its step<N>.tmpl (subject and introduction). The same
// locale files serve both parts: html/template escapes them for HTML.
package templates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	texttemplate "text/template"

	"golang.org/x/text/language"
)

//go:embed email pages
var files embed.FS

// Email is what a reminder email shows. All URLs are complete and carry
// tokens, never addresses.
type Email struct {
	Step           int
	Locale         string // the customer's locale: formats money and picks the language
	Lang           string // the language of the template used; set by Renderer.Email
	StorefrontName string
	CustomerName   string // "" when unknown
	Lines          []Line
	Total          string // formatted for Locale
	BasketURL      string // through /r/{token}
	UnsubscribeURL string // /u/{token}
	PreferencesURL string // /p/{token}; "" leaves the link out
	HelpAddress    string // the storefront's contact, for questions
	PostalAddress  string
}

// Line is one basket item, formatted.
type Line struct {
	Name      string
	Quantity  int64
	UnitPrice string
	Total     string
	URL       string
	ImageURL  string
}

// Rendered is a rendered email.
type Rendered struct {
	Subject string
	Text    string
	HTML    string
	Lang    string // the template language used
}

// Options configures a Renderer. The zero value uses the built-in templates only.
type Options struct {
	// Dir is the override folder (templates.dir): "<locale>/step<N>.tmpl",
	// "<locale>/common.tmpl", "layout.{txt,html}.tmpl", and the same under
	// "<storefront id>/" for one storefront. "" means none.
	Dir string
	// Storefronts are the configured storefront ids, so that their folders in
	// Dir are not mistaken for locales.
	Storefronts []string
}

// Renderer renders emails and pages. It is safe for concurrent use.
type Renderer struct {
	builtin  fs.FS
	override fs.FS // nil without templates.dir
	dirName  string
	pages    *htmltemplate.Template
	locales  []string
	mu       sync.Mutex
	sets     map[string]*emailSet // by storefront, locale string and step: pointers only, bounded by maxLocaleKeys
	byFiles  map[string]*emailSet // by the files a locale resolves to: parsed once, few
}

type emailSet struct {
	text *texttemplate.Template
	html *htmltemplate.Template
	lang string
}

// New loads the templates. It does not render anything yet: call Check at
// start-up to find every broken template before the first send.
func New(o Options) (*Renderer, error) {
	builtin, _ := fs.Sub(files, "email")
	pages, err := htmltemplate.New("").ParseFS(files, "pages/*.html.tmpl")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	r := &Renderer{builtin: builtin, pages: pages, sets: map[string]*emailSet{}, byFiles: map[string]*emailSet{}}
	if o.Dir != "" {
		st, err := os.Stat(o.Dir)
		if err != nil || !st.IsDir() {
			return nil, fmt.Errorf("templates.dir: %q is not a folder", o.Dir)
		}
		r.override, r.dirName = os.DirFS(o.Dir), o.Dir
	}
	r.locales = r.findLocales(o.Storefronts)
	return r, nil
}

// Locales returns the locales with templates, built-in or overridden, sorted.
func (r *Renderer) Locales() []string { return r.locales }

func (r *Renderer) findLocales(storefronts []string) []string {
	seen := map[string]bool{}
	isStorefront := map[string]bool{}
	for _, s := range storefronts {
		isStorefront[s] = true
	}
	collect := func(fsys fs.FS, dir string) {
		entries, _ := fs.ReadDir(fsys, dir)
		for _, e := range entries {
			if !e.IsDir() || (dir == "." && isStorefront[e.Name()]) {
				continue
			}
			if steps, _ := fs.Glob(fsys, path.Join(dir, e.Name(), "step*.tmpl")); len(steps) > 0 {
				seen[e.Name()] = true
			}
		}
	}
	collect(r.builtin, ".")
	if r.override != nil {
		collect(r.override, ".")
		for s := range isStorefront {
			collect(r.override, s)
		}
	}
	out := make([]string, 0, len(seen))
	for l := range seen {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// file is one template source found for a relative path.
type file struct {
	name string // what errors call it: "templates.dir/pink/de/step1.tmpl" or "built-in de/step1.tmpl"
	text string
}

// find looks a relative path up: the storefront's override, the general
// override, then the built-in templates.
func (r *Renderer) find(storefront, rel string) (file, bool) {
	if r.override != nil {
		candidates := []string{rel}
		if storefront != "" {
			candidates = []string{path.Join(storefront, rel), rel}
		}
		for _, p := range candidates {
			if b, err := fs.ReadFile(r.override, p); err == nil {
				return file{name: path.Join(r.dirName, p), text: string(b)}, true
			}
		}
	}
	if b, err := fs.ReadFile(r.builtin, rel); err == nil {
		return file{name: "built-in " + rel, text: string(b)}, true
	}
	return file{}, false
}

// localeChain is the order in which template languages are tried: the
// customer's locale, its language, the storefront's default, its language, en.
func localeChain(locale, storefrontDefault string) []string {
	var chain []string
	add := func(l string) {
		if l == "" {
			return
		}
		for _, c := range chain {
			if strings.EqualFold(c, l) {
				return
			}
		}
		chain = append(chain, l)
	}
	for _, l := range []string{locale, storefrontDefault} {
		if tag, err := language.Parse(l); err == nil {
			add(tag.String())
			base, _ := tag.Base()
			add(base.String())
		}
	}
	add("en")
	return chain
}

// resolve builds (and caches) the template set for an email.
func (r *Renderer) resolve(storefront, locale, storefrontDefault string, step int) (*emailSet, error) {
	key := storefront + "\x00" + locale + "\x00" + storefrontDefault + "\x00" + strconv.Itoa(step)
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.sets[key]; ok {
		return s, nil
	}
	chain := localeChain(locale, storefrontDefault)
	stepNames := []string{"step" + strconv.Itoa(step) + ".tmpl"}
	if step > 2 {
		stepNames = append(stepNames, "step2.tmpl") // later steps reuse the "basket saved" wording unless given their own
	}
	var stepFile file
	lang := ""
	for _, l := range chain {
		for _, n := range stepNames {
			if f, ok := r.find(storefront, path.Join(l, n)); ok {
				stepFile, lang = f, l
				break
			}
		}
		if lang != "" {
			break
		}
	}
	if lang == "" {
		return nil, fmt.Errorf("templates: no template for step %d in any of %v", step, chain)
	}
	var common file
	for _, l := range append([]string{lang}, chain...) {
		if f, ok := r.find(storefront, path.Join(l, "common.tmpl")); ok {
			common = f
			break
		}
	}
	layoutText, _ := r.find(storefront, "layout.txt.tmpl")
	layoutHTML, _ := r.find(storefront, "layout.html.tmpl")
	if len(r.sets) >= maxLocaleKeys {
		r.sets = map[string]*emailSet{} // arbitrary locale strings must not grow memory
	}
	files := lang + "\x00" + stepFile.name + "\x00" + common.name + "\x00" + layoutText.name + "\x00" + layoutHTML.name
	if set, ok := r.byFiles[files]; ok {
		r.sets[key] = set
		return set, nil
	}

	set := &emailSet{lang: lang}
	text := texttemplate.New(layoutText.name)
	html := htmltemplate.New(layoutHTML.name)
	if _, err := text.Parse(layoutText.text); err != nil {
		return nil, err
	}
	if _, err := html.Parse(layoutHTML.text); err != nil {
		return nil, err
	}
	for _, f := range []file{common, stepFile} {
		if _, err := text.New(f.name).Parse(f.text); err != nil {
			return nil, err
		}
		if _, err := html.New(f.name).Parse(f.text); err != nil {
			return nil, err
		}
	}
	set.text, set.html = text, html
	r.sets[key] = set
	r.byFiles[files] = set
	return set, nil
}

// maxLocaleKeys bounds the cache of locale strings seen; the parsed sets
// are shared by every locale that resolves to the same files.
const maxLocaleKeys = 4096

// Email renders reminder e for a storefront whose default locale is
// storefrontDefault. The template language follows e.Locale with fallback.
func (r *Renderer) Email(storefront, storefrontDefault string, e Email) (Rendered, error) {
	set, err := r.resolve(storefront, e.Locale, storefrontDefault, e.Step)
	if err != nil {
		return Rendered{}, err
	}
	e.Lang = set.lang
	var subject bytes.Buffer
	// Builders, so that the parts become strings without a copy; sized for
	// a reminder with a few lines, so that they are not copied as they grow
	// (8 % of rendering before).
	var text, html strings.Builder
	text.Grow(2 << 10)
	html.Grow(8 << 10)
	if err := set.text.ExecuteTemplate(&subject, "subject", e); err != nil {
		return Rendered{}, fmt.Errorf("render subject: %w", err)
	}
	if err := set.text.Execute(&text, e); err != nil {
		return Rendered{}, fmt.Errorf("render text part: %w", err)
	}
	if err := set.html.Execute(&html, e); err != nil {
		return Rendered{}, fmt.Errorf("render html part: %w", err)
	}
	return Rendered{Subject: strings.Join(strings.Fields(subject.String()), " "), Text: text.String(),
		HTML: html.String(), Lang: set.lang}, nil
}

// Storefront is what Check needs to know of a storefront.
type Storefront struct {
	ID, Name, DefaultLocale string
}

// Check renders every storefront × locale × step with sample data and
// returns every problem, each naming its file and line, so that a broken
// template stops start-up instead of a send.
func (r *Renderer) Check(storefronts []Storefront, steps int) error {
	var errs []error
	for _, sf := range storefronts {
		for _, l := range append(r.Locales(), sf.DefaultLocale) {
			for step := 1; step <= steps; step++ {
				e := Sample(sf.Name, l, step)
				out, err := r.Email(sf.ID, sf.DefaultLocale, e)
				if err == nil {
					err = required(out, e)
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("storefront %s, locale %s, step %d: %w", sf.ID, l, step, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// required checks that both parts of out, rendered from e, show what every
// email must: the unsubscribe link and the storefront's postal address
// (DESIGN.md, Email). Only an override in templates.dir can leave them out.
func required(out Rendered, e Email) error {
	var errs []error
	for _, p := range []struct{ name, body string }{{"text part", out.Text}, {"HTML part", out.HTML}} {
		for _, want := range []struct{ what, field, value string }{
			{"unsubscribe link", ".UnsubscribeURL", e.UnsubscribeURL},
			{"postal address", ".PostalAddress", e.PostalAddress},
		} {
			if !strings.Contains(p.body, want.value) {
				errs = append(errs, fmt.Errorf("the %s shows no %s ({{%s}}): every email must show it", p.name, want.what, want.field))
			}
		}
	}
	return errors.Join(errs...)
}

// Sample is a realistic email for previews and checks.
func Sample(storefrontName, locale string, step int) Email {
	lines := []Line{
		{Name: "Oxford shirt, white", Quantity: 2, UnitPrice: FormatMoney(8900, "GBP", locale), Total: FormatMoney(17800, "GBP", locale),
			URL: "https://shop.example/p/oxford-white", ImageURL: "https://shop.example/img/oxford-white.jpg"},
		{Name: "Silk tie, navy", Quantity: 1, UnitPrice: FormatMoney(4500, "GBP", locale), Total: FormatMoney(4500, "GBP", locale),
			URL: "https://shop.example/p/tie-navy", ImageURL: "https://shop.example/img/tie-navy.jpg"},
	}
	return Email{Step: step, Locale: locale, StorefrontName: storefrontName, CustomerName: "Ann", Lines: lines,
		Total: FormatMoney(22300, "GBP", locale), BasketURL: "https://basket.example/r/SAMPLE-TOKEN",
		UnsubscribeURL: "https://basket.example/u/SAMPLE-TOKEN", PreferencesURL: "https://basket.example/p/SAMPLE-TOKEN",
		HelpAddress: "help@shop.example", PostalAddress: "1 Example Street, London EC1A 1AA"}
}

// Page is what a customer page shows.
type Page struct {
	Lang           string            // page language (PageLanguage)
	T              map[string]string // its words (PageText); set by Renderer.Page when nil
	Title          string
	StorefrontName string
	Masked         string // the recipient's masked address
	Action         string // the form's target
	Preferences    string // the preferences page of the same token
	Done           bool   // the change was made
	Message        string // for error pages
	// Preference centre state: true means the person receives these emails.
	Basket, Newsletter, AllOff bool
	Saved, Resubscribed        bool
	GlobalBlock                string // reason of a global entry that stops everything, "" for none
	Contact                    string
	// Outbox pages (dev mode).
	Emails []OutboxEmail
	Email  *OutboxEmail
}

// OutboxEmail is one email of the dev outbox.
type OutboxEmail struct {
	Name, Date, From, To, Subject, Text string
	Headers                             [][2]string
}

// Page names.
const (
	PageUnsubscribe = "unsubscribe.html.tmpl"
	PageError       = "error.html.tmpl"
	PageOutbox      = "outbox.html.tmpl"
	PageOutboxEmail = "outbox_email.html.tmpl"
	PagePreferences = "preferences.html.tmpl"
)

// Page renders the named customer page.
func (r *Renderer) Page(name string, p Page) ([]byte, error) {
	if p.Lang == "" {
		p.Lang = "en"
	}
	if p.T == nil {
		p.T = PageText(p.Lang)
	}
	var b bytes.Buffer
	if err := r.pages.ExecuteTemplate(&b, name, p); err != nil {
		return nil, fmt.Errorf("render page %s: %w", name, err)
	}
	return b.Bytes(), nil
}
