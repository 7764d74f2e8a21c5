package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/basketassist/basketassist/mail"
	"github.com/basketassist/basketassist/suppression"
	"github.com/basketassist/basketassist/templates"
)

// pageHeaders keep customer pages private: tokens in the URL must not leak
// through Referer, caches or framing.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
}

func (s *Server) page(w http.ResponseWriter, status int, name string, p templates.Page) {
	b, err := s.Renderer.Page(name, p)
	if err != nil {
		s.opts.Logger.Error("render page", "page", name, "error", mail.Describe(err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	pageHeaders(w)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// message renders the error page with the words key_title and key_body.
func (s *Server) message(w http.ResponseWriter, status int, lang, key string) {
	t := templates.PageText(lang)
	s.page(w, status, templates.PageError, templates.Page{Lang: lang, Title: t[key+"_title"], Message: t[key+"_body"]})
}

// link is a decoded token with what the pages need around it.
type link struct {
	suppression.Token
	raw, lang, storefrontName, contact string
}

func (s *Server) link(w http.ResponseWriter, r *http.Request) (link, bool) {
	raw := r.PathValue("token")
	t, err := s.Tokens.Decode(raw)
	if err != nil {
		s.message(w, http.StatusBadRequest, templates.PageLanguage(r.Header.Get("Accept-Language")), "bad_link")
		return link{}, false
	}
	l := link{Token: t, raw: raw, lang: templates.PageLanguage(t.Locale), storefrontName: t.Storefront}
	if sf, ok := s.opts.Storefronts[t.Storefront]; ok {
		l.storefrontName, l.contact = sf.Name, sf.HelpContact()
	}
	return l, true
}

// unsubscribeRef and preferencesRef are where the pages' forms go, relative
// to the page (<public_url>/u/{token} or /p/{token}): behind a proxy that
// serves web.public_url under a path, the forms stay under it too.
func (l link) unsubscribeRef() string { return "../u/" + l.raw }
func (l link) preferencesRef() string { return "../p/" + l.raw }

// unsubscribePage answers GET /u/{token} with a confirmation form. It changes
// nothing: mail security scanners fetch every link in a message.
func (s *Server) unsubscribePage(w http.ResponseWriter, r *http.Request) {
	l, ok := s.link(w, r)
	if !ok {
		return
	}
	s.page(w, http.StatusOK, templates.PageUnsubscribe, templates.Page{Lang: l.lang, Title: templates.PageText(l.lang)["unsub_title"],
		StorefrontName: l.storefrontName, Masked: l.Masked, Action: l.unsubscribeRef(), Preferences: l.preferencesRef()})
}

// unsubscribe answers POST /u/{token}: the page's button, or an RFC 8058
// one-click POST from a mail client (List-Unsubscribe=One-Click, as
// form-urlencoded or multipart). It suppresses only the token's scope,
// answers 200 (never a redirect, which one-click clients do not follow) and
// is idempotent. The result page offers to undo.
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) {
	l, ok := s.link(w, r)
	if !ok {
		return
	}
	// The body is read so that clients that send it are not cut off; what it
	// says does not matter: a POST to this URL is the request to unsubscribe.
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	_ = r.ParseMultipartForm(64 << 10)
	if err := s.setScope(r.Context(), l, l.Scope, false); err != nil {
		s.opts.Logger.ErrorContext(r.Context(), "unsubscribe", "storefront", l.Storefront, "error", mail.Describe(err))
		s.message(w, http.StatusServiceUnavailable, l.lang, "retry")
		return
	}
	s.page(w, http.StatusOK, templates.PageUnsubscribe, templates.Page{Lang: l.lang, Title: templates.PageText(l.lang)["unsub_done_title"],
		StorefrontName: l.storefrontName, Masked: l.Masked, Done: true, Preferences: l.preferencesRef()})
}

// setScope makes the recipient of l receive (on) or not receive emails of
// scope from l's storefront. It touches only that storefront's entry of that
// scope: resubscribing to basket emails leaves an "all" entry in place, and
// global entries (bounces, complaints) are not the recipient's to remove.
func (s *Server) setScope(ctx context.Context, l link, scope suppression.Scope, on bool) error {
	if on {
		removed, err := s.Suppressions.Remove(ctx, l.Recipient, l.Storefront, scope, suppression.Recipient)
		if removed {
			s.metrics.resubscribes.WithLabelValues(string(scope)).Inc()
		}
		return err
	}
	added, err := s.Suppressions.Add(ctx, suppression.Entry{Recipient: l.Recipient, Scope: scope,
		Storefront: l.Storefront, Reason: suppression.Unsubscribed, Origin: suppression.Recipient})
	if added {
		s.metrics.unsubscribes.WithLabelValues(string(scope), string(suppression.Recipient)).Inc()
	}
	return err
}

// preferencesPage answers GET /p/{token}: what the recipient receives from
// the token's storefront, as a form. It changes nothing.
func (s *Server) preferencesPage(w http.ResponseWriter, r *http.Request) {
	l, ok := s.link(w, r)
	if !ok {
		return
	}
	s.showPreferences(w, r, l, templates.Page{})
}

func (s *Server) showPreferences(w http.ResponseWriter, r *http.Request, l link, p templates.Page) {
	entries, err := s.Suppressions.Entries(r.Context(), l.Recipient)
	if err != nil {
		s.message(w, http.StatusServiceUnavailable, l.lang, "retry")
		return
	}
	p.Lang, p.Title = l.lang, templates.PageText(l.lang)["prefs_title"]
	p.StorefrontName, p.Masked, p.Contact, p.Action = l.storefrontName, l.Masked, l.contact, l.preferencesRef()
	p.Basket, p.Newsletter = true, true
	for _, e := range entries {
		p.Basket = p.Basket && !e.Blocks(l.Storefront, suppression.BasketAssistance)
		p.Newsletter = p.Newsletter && !e.Blocks(l.Storefront, suppression.Newsletter)
		if e.Scope == suppression.All && (e.Storefront == "" || e.Storefront == l.Storefront) {
			p.AllOff = true
		}
		if e.Storefront == "" && e.Scope == suppression.All {
			p.GlobalBlock = string(e.Reason)
		}
	}
	s.page(w, http.StatusOK, templates.PagePreferences, p)
}

// preferences answers POST /p/{token}: "save" sets basket emails,
// newsletters and "all" for the token's storefront as the form says; "undo"
// (from the unsubscribe result page) turns basket emails back on. The form
// carries no cookie: the signed token in the URL is what authorises it, and a
// browser's report that the POST comes from another site is refused.
func (s *Server) preferences(w http.ResponseWriter, r *http.Request) {
	l, ok := s.link(w, r)
	if !ok {
		return
	}
	if crossSite(r) {
		s.message(w, http.StatusForbidden, l.lang, "forbidden")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.message(w, http.StatusBadRequest, l.lang, "bad_link")
		return
	}
	ctx := r.Context()
	var p templates.Page
	var err error
	switch r.PostForm.Get("action") {
	case "undo":
		err = s.setScope(ctx, l, suppression.BasketAssistance, true)
		p.Resubscribed = true
	default:
		on := func(name string) bool { return r.PostForm.Get(name) == "on" }
		err = errors.Join(
			s.setScope(ctx, l, suppression.BasketAssistance, on("basket")),
			s.setScope(ctx, l, suppression.Newsletter, on("newsletter")),
			s.setScope(ctx, l, suppression.All, !on("all")),
		)
		p.Saved = true
	}
	if err != nil {
		s.opts.Logger.ErrorContext(ctx, "preferences", "storefront", l.Storefront, "error", mail.Describe(err))
		s.message(w, http.StatusServiceUnavailable, l.lang, "retry")
		return
	}
	s.showPreferences(w, r, l, p)
}

// crossSite reports a POST that a browser says comes from another site:
// Sec-Fetch-Site, or an Origin whose host is not this one.
func crossSite(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return true
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		return err != nil || u.Host != r.Host
	}
	return false
}

// redirect answers GET /r/{token} with a 302 to the storefront's basket page
// and counts the click. Being a GET it changes no subscription state.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request) {
	l, ok := s.link(w, r)
	if !ok {
		return
	}
	sf, known := s.opts.Storefronts[l.Storefront]
	if !known || l.BasketID == "" {
		s.message(w, http.StatusBadRequest, l.lang, "bad_link")
		return
	}
	s.metrics.clicks.WithLabelValues(sf.ID, strconv.Itoa(l.Step)).Inc()
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, sf.BasketLink(l.BasketID), http.StatusFound)
}
