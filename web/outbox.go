package web

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/basketassist/basketassist/templates"
)

// outboxList answers GET /outbox: the dev outbox's emails, newest first.
func (s *Server) outboxList(w http.ResponseWriter, r *http.Request) {
	files, err := filepath.Glob(filepath.Join(s.opts.OutboxDir, "*.eml"))
	if err != nil {
		http.Error(w, "cannot read the outbox", http.StatusInternalServerError)
		return
	}
	sort.Sort(sort.Reverse(sort.StringSlice(files)))
	p := templates.Page{Title: "Outbox"}
	for _, f := range files {
		m, err := readEML(f)
		if err != nil {
			continue
		}
		p.Emails = append(p.Emails, templates.OutboxEmail{Name: filepath.Base(f), Date: m.Header.Get("Date"),
			To: m.Header.Get("To"), Subject: decodeHeader(m.Header.Get("Subject"))})
	}
	s.outboxPage(w, http.StatusOK, templates.PageOutbox, p)
}

// outboxEmail answers GET /outbox/{name}: headers and text part, with the
// HTML part framed from /outbox/{name}/html.
func (s *Server) outboxEmail(w http.ResponseWriter, r *http.Request) {
	text, _, m, ok := s.outboxParts(w, r)
	if !ok {
		return
	}
	p := templates.Page{Title: decodeHeader(m.Header.Get("Subject")), Email: &templates.OutboxEmail{
		Name: r.PathValue("name"), Date: m.Header.Get("Date"), To: m.Header.Get("To"), From: m.Header.Get("From"),
		Subject: decodeHeader(m.Header.Get("Subject")), Text: text}}
	for _, h := range []string{"Message-Id", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post"} {
		p.Email.Headers = append(p.Email.Headers, [2]string{h, m.Header.Get(h)})
	}
	s.outboxPage(w, http.StatusOK, templates.PageOutboxEmail, p)
}

// outboxHTML serves an email's HTML part, sandboxed: no scripts, no forms,
// images over https only. The email's outbox page frames it, so it may be
// framed by this origin (guard forbids framing everywhere else).
func (s *Server) outboxHTML(w http.ResponseWriter, r *http.Request) {
	_, html, _, ok := s.outboxParts(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; frame-ancestors 'self'")
	w.Header().Set("X-Frame-Options", "SAMEORIGIN")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = io.WriteString(w, html)
}

func (s *Server) outboxParts(w http.ResponseWriter, r *http.Request) (text, html string, m *mail.Message, ok bool) {
	name := r.PathValue("name")
	if name != filepath.Base(name) || !strings.HasSuffix(name, ".eml") {
		http.NotFound(w, r)
		return "", "", nil, false
	}
	m, err := readEML(filepath.Join(s.opts.OutboxDir, name))
	if err != nil {
		http.NotFound(w, r)
		return "", "", nil, false
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		body, _ := io.ReadAll(m.Body)
		return string(body), "", m, true
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err != nil {
			return text, html, m, true
		}
		b, _ := io.ReadAll(part)
		switch ct := part.Header.Get("Content-Type"); {
		case strings.HasPrefix(ct, "text/plain"):
			text = string(b)
		case strings.HasPrefix(ct, "text/html"):
			html = string(b)
		}
	}
}

func (s *Server) outboxPage(w http.ResponseWriter, status int, name string, p templates.Page) {
	b, err := s.Renderer.Page(name, p)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func readEML(path string) (*mail.Message, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return mail.ReadMessage(bytes.NewReader(raw))
}

func decodeHeader(v string) string {
	d, err := new(mime.WordDecoder).DecodeHeader(v)
	if err != nil {
		return v
	}
	return d
}
