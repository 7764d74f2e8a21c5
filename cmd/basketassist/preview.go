package main

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/config"
	"github.com/basketassist/basketassist/mail"
	"github.com/basketassist/basketassist/secrets"
	"github.com/basketassist/basketassist/suppression"
	"github.com/basketassist/basketassist/templates"
	"github.com/basketassist/basketassist/worker"
)

// runPreview renders reminders with sample data, exactly as the worker would
// compose them: one to stdout or a file, or every storefront × locale × step
// into a gallery folder for designers.
func runPreview(configPath string, args []string, stdout, stderr io.Writer) error {
	fs := commandFlags("preview", &configPath, stderr)
	storefront := fs.String("storefront", "", "storefront id (default: the first configured)")
	locale := fs.String("locale", "", "customer locale, e.g. de-DE (default: the storefront's)")
	step := fs.Int("step", 1, "reminder step")
	out := fs.String("out", "", "write to FILE.html (HTML part) or FILE.eml (whole message) instead of printing the text part")
	gallery := fs.String("gallery", "", "write every storefront × locale × step into DIR, with an index.html")
	if err := parseArgs(fs, args, stdout, 0, ""); err != nil {
		return err
	}
	cfg, err := config.LoadValid(configPath)
	if err != nil {
		return err
	}
	applyDevDefaults(&cfg, configPath)
	p, err := newPreviewer(cfg)
	if err != nil {
		return err
	}
	if *gallery != "" {
		n, err := p.gallery(*gallery)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %d previews and %s\n", n, filepath.Join(*gallery, "index.html"))
		return nil
	}
	sf, ok := p.storefronts[*storefront]
	if *storefront == "" {
		sf, ok = p.storefronts[cfg.Storefronts[0].ID], true
	}
	if !ok {
		return fmt.Errorf("--storefront: unknown storefront %q", *storefront)
	}
	if *step < 1 || *step > len(cfg.Reminders.Steps) {
		return fmt.Errorf("--step: must be 1-%d (reminders.steps), got %d", len(cfg.Reminders.Steps), *step)
	}
	loc := *locale
	if loc == "" {
		loc = sf.DefaultLocale
	}
	m, err := p.compose(sf, loc, *step)
	if err != nil {
		return err
	}
	switch ext := strings.ToLower(filepath.Ext(*out)); {
	case *out == "":
		fmt.Fprintf(stdout, "Subject: %s\nLanguage: %s\n\n%s", m.Subject, m.Lang, m.Text)
		return nil
	case ext == ".html":
		return os.WriteFile(*out, []byte(m.HTML), 0o644)
	case ext == ".eml":
		var b bytes.Buffer
		if err := mail.WriteEML(&b, m, p.dkim); err != nil {
			return err
		}
		return os.WriteFile(*out, b.Bytes(), 0o644)
	default:
		return errors.New("--out: must end in .html or .eml")
	}
}

type previewer struct {
	cfg         config.Config
	storefronts map[string]basket.Storefront
	renderer    *templates.Renderer
	composer    *worker.Composer
	keys        *secrets.Keys
	dkim        *gomail.DKIMSigner
}

func newPreviewer(cfg config.Config) (*previewer, error) {
	p := &previewer{cfg: cfg, storefronts: map[string]basket.Storefront{}}
	for _, s := range storefrontsOf(cfg) {
		p.storefronts[s.ID] = s
	}
	var err error
	if p.renderer, err = loadTemplates(cfg, p.storefronts); err != nil {
		return nil, err
	}
	if p.dkim, err = mail.NewDKIMSigner(mail.DKIMOptions{Domain: cfg.DKIM.Domain, Selector: cfg.DKIM.Selector, KeyFile: cfg.DKIM.KeyFile}); err != nil {
		return nil, err
	}
	// Sample links are signed with a throwaway key: a preview must not mint
	// tokens that work against the real service.
	p.keys = secrets.Throwaway()
	p.composer = &worker.Composer{Tokens: suppression.NewTokens(p.keys), Keys: p.keys, Renderer: p.renderer, PublicURL: cfg.Web.PublicURL}
	return p, nil
}

// compose renders step for a sample shopper of sf with the given locale.
func (p *previewer) compose(sf basket.Storefront, locale string, step int) (*mail.Message, error) {
	b := basket.Basket{Storefront: sf.ID, ID: "b_preview", Version: 1, LastActivity: time.Now(),
		Customer: &basket.Customer{Email: "ann@example.com", Name: "Ann", Locale: locale},
		Contents: basket.Contents{Currency: "GBP", Items: []basket.Item{
			{SKU: "OX-1", Name: "Oxford shirt, white", Quantity: 2, UnitPrice: 8900,
				URL: "https://shop.example/p/oxford-white", ImageURL: "https://shop.example/img/oxford-white.jpg"},
			{SKU: "TIE-2", Name: "Silk tie, navy", Quantity: 1, UnitPrice: 4500,
				URL: "https://shop.example/p/tie-navy", ImageURL: "https://shop.example/img/tie-navy.jpg"}}}}
	return p.composer.Compose(sf, b, step, p.keys.Recipient("ann@example.com"))
}

type galleryEntry struct {
	Storefront, Locale, Lang, Subject string
	Step                              int
	HTML, Text, EML                   string
}

// gallery writes DIR/<storefront>/<locale>/step<N>.{html,txt,eml} and DIR/index.html.
func (p *previewer) gallery(dir string) (int, error) {
	var entries []galleryEntry
	ids := make([]string, 0, len(p.storefronts))
	for id := range p.storefronts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		sf := p.storefronts[id]
		for _, locale := range p.renderer.Locales() {
			for step := 1; step <= len(p.cfg.Reminders.Steps); step++ {
				m, err := p.compose(sf, locale, step)
				if err != nil {
					return 0, fmt.Errorf("%s %s step %d: %w", id, locale, step, err)
				}
				rel := filepath.Join(id, locale, fmt.Sprintf("step%d", step))
				if err := os.MkdirAll(filepath.Join(dir, id, locale), 0o755); err != nil {
					return 0, err
				}
				var eml bytes.Buffer
				if err := mail.WriteEML(&eml, m, p.dkim); err != nil {
					return 0, err
				}
				for ext, body := range map[string][]byte{".html": []byte(m.HTML), ".txt": []byte(m.Text), ".eml": eml.Bytes()} {
					if err := os.WriteFile(filepath.Join(dir, rel+ext), body, 0o644); err != nil {
						return 0, err
					}
				}
				entries = append(entries, galleryEntry{Storefront: sf.Name, Locale: locale, Lang: m.Lang, Step: step, Subject: m.Subject,
					HTML: filepath.ToSlash(rel + ".html"), Text: filepath.ToSlash(rel + ".txt"), EML: filepath.ToSlash(rel + ".eml")})
			}
		}
	}
	f, err := os.Create(filepath.Join(dir, "index.html"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := galleryIndex.Execute(f, entries); err != nil {
		return 0, err
	}
	return len(entries), f.Close()
}

var galleryIndex = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>basketassist email gallery</title>
<style>
body{font-family:Arial,Helvetica,sans-serif;margin:24px;color:#222}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:24px}
figure{margin:0;border:1px solid #ddd}
figcaption{padding:8px;background:#f4f4f4;font-size:14px}
iframe{width:100%;height:720px;border:0}
</style></head>
<body>
<h1>basketassist email gallery</h1>
<p>Every storefront × locale × step, rendered with sample data as the worker would send it.</p>
<div class="grid">
{{range .}}<figure>
<figcaption><strong>{{.Storefront}}</strong> · {{.Locale}} · step {{.Step}} — {{.Subject}}<br>
<a href="{{.HTML}}">HTML</a> · <a href="{{.Text}}">text</a> · <a href="{{.EML}}">.eml</a></figcaption>
<iframe src="{{.HTML}}" title="{{.Storefront}} {{.Locale}} step {{.Step}}" loading="lazy"></iframe>
</figure>
{{end}}</div>
</body></html>
`))
