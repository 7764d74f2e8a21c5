// Package templates renders basketassist's emails and customer pages from
// embedded templates: the text part with text/template, HTML with html/template.
package templates

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
)

//go:embed email pages
var files embed.FS

// Email is what a reminder email shows. All URLs are complete and carry
// tokens, never addresses.
type Email struct {
	Step           int
	Locale         string
	StorefrontName string
	CustomerName   string // "" when unknown
	Lines          []Line
	Total          string // formatted for Locale
	BasketURL      string // through /r/{token}
	UnsubscribeURL string // /u/{token}
	HelpAddress    string // the storefront's reply address, for questions
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
}

// Renderer renders emails and pages. Build it with New, which parses every
// template up front so a broken one stops start-up rather than a send.
type Renderer struct {
	text  *texttemplate.Template
	html  *htmltemplate.Template
	pages *htmltemplate.Template
}

// New parses the embedded templates.
func New() (*Renderer, error) {
	text, err := texttemplate.New("").ParseFS(files, "email/*.txt.tmpl")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	html, err := htmltemplate.New("").ParseFS(files, "email/*.html.tmpl")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	pages, err := htmltemplate.New("").ParseFS(files, "pages/*.html.tmpl")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	return &Renderer{text: text, html: html, pages: pages}, nil
}

// Email renders the reminder e.
func (r *Renderer) Email(e Email) (Rendered, error) {
	var subject, text, html bytes.Buffer
	if err := r.text.ExecuteTemplate(&subject, "subject", e); err != nil {
		return Rendered{}, fmt.Errorf("render subject: %w", err)
	}
	if err := r.text.ExecuteTemplate(&text, "reminder.txt.tmpl", e); err != nil {
		return Rendered{}, fmt.Errorf("render text part: %w", err)
	}
	if err := r.html.ExecuteTemplate(&html, "reminder.html.tmpl", e); err != nil {
		return Rendered{}, fmt.Errorf("render html part: %w", err)
	}
	return Rendered{Subject: strings.TrimSpace(subject.String()), Text: text.String(), HTML: html.String()}, nil
}

// Page is what a customer page shows.
type Page struct {
	Title          string
	StorefrontName string
	Masked         string // the recipient's masked address
	Action         string // the form's target, for confirm pages
	Done           bool   // the change was made
	Message        string // for error pages
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
)

// Page renders the named customer page.
func (r *Renderer) Page(name string, p Page) ([]byte, error) {
	var b bytes.Buffer
	if err := r.pages.ExecuteTemplate(&b, name, p); err != nil {
		return nil, fmt.Errorf("render page %s: %w", name, err)
	}
	return b.Bytes(), nil
}
