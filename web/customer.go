package web

import (
	"net/http"
	"strconv"

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
		s.opts.Logger.Error("render page", "page", name, "error", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	pageHeaders(w)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (s *Server) badLink(w http.ResponseWriter) {
	s.page(w, http.StatusBadRequest, templates.PageError, templates.Page{Title: "This link is not valid",
		Message: "The link may have been cut short by your email program. Try copying the whole link from the email into your browser."})
}

func (s *Server) token(r *http.Request) (suppression.Token, string, bool) {
	t, err := s.Tokens.Decode(r.PathValue("token"))
	if err != nil {
		return t, "", false
	}
	name := t.Storefront
	if sf, ok := s.opts.Storefronts[t.Storefront]; ok {
		name = sf.Name
	}
	return t, name, true
}

// unsubscribePage answers GET /u/{token} with a confirmation form. It changes
// nothing: mail security scanners fetch every link in a message.
func (s *Server) unsubscribePage(w http.ResponseWriter, r *http.Request) {
	t, name, ok := s.token(r)
	if !ok {
		s.badLink(w)
		return
	}
	s.page(w, http.StatusOK, templates.PageUnsubscribe, templates.Page{Title: "Stop basket emails",
		StorefrontName: name, Masked: t.Masked, Action: r.URL.Path})
}

// unsubscribe answers POST /u/{token}: the page's button, or an RFC 8058
// one-click POST from a mail client (List-Unsubscribe=One-Click, as
// form-urlencoded or multipart). It suppresses only the token's scope,
// answers 200 (never a redirect, which one-click clients do not follow) and
// is idempotent.
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) {
	t, name, ok := s.token(r)
	if !ok {
		s.badLink(w)
		return
	}
	// The body is read so that clients that send it are not cut off; what it
	// says does not matter: a POST to this URL is the request to unsubscribe.
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	_ = r.ParseMultipartForm(64 << 10)
	added, err := s.Suppressions.Add(r.Context(), suppression.Entry{Recipient: t.Recipient, Scope: t.Scope,
		Storefront: t.Storefront, Reason: suppression.Unsubscribed, Origin: suppression.Recipient})
	if err != nil {
		s.opts.Logger.ErrorContext(r.Context(), "unsubscribe", "storefront", t.Storefront, "error", err.Error())
		s.page(w, http.StatusServiceUnavailable, templates.PageError, templates.Page{Title: "Please try again",
			Message: "We could not record your choice just now. Nothing was changed; please try again in a minute."})
		return
	}
	if added {
		s.metrics.unsubscribes.WithLabelValues(string(t.Scope), string(suppression.Recipient)).Inc()
	}
	s.page(w, http.StatusOK, templates.PageUnsubscribe, templates.Page{Title: "Unsubscribed from basket emails",
		StorefrontName: name, Masked: t.Masked, Done: true})
}

// redirect answers GET /r/{token} with a 302 to the storefront's basket page
// and counts the click. Being a GET it changes no subscription state.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request) {
	t, _, ok := s.token(r)
	sf, known := s.opts.Storefronts[t.Storefront]
	if !ok || !known || t.BasketID == "" {
		s.badLink(w)
		return
	}
	s.metrics.clicks.WithLabelValues(sf.ID, strconv.Itoa(t.Step)).Inc()
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, sf.BasketLink(t.BasketID), http.StatusFound)
}
