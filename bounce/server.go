package bounce

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// Options configure the listener.
type Options struct {
	Domains  []string // mail for these is accepted; anything else is refused at RCPT
	MaxBytes int64    // larger reports are refused (552); default 1 MiB
	Applier  *Applier // maps and applies each report
}

// Listener is an SMTP server for the bounce domains.
type Listener struct {
	srv *smtp.Server
	ln  net.Listener
}

// Listen starts the listener on addr.
func Listen(addr string, o Options) (*Listener, error) {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 1 << 20
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	h := &handler{o: o, domains: map[string]bool{}}
	for _, d := range o.Domains {
		h.domains[strings.ToLower(d)] = true
	}
	srv := smtp.NewServer(h)
	if len(o.Domains) > 0 {
		srv.Domain = o.Domains[0]
	}
	srv.MaxMessageBytes = o.MaxBytes
	srv.MaxRecipients = 10
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	l := &Listener{srv: srv, ln: ln}
	go func() { _ = srv.Serve(ln) }()
	return l, nil
}

// Addr is where the listener listens.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Close stops the listener and its sessions.
func (l *Listener) Close() error { return l.srv.Close() }

type handler struct {
	o       Options
	domains map[string]bool
}

// NewSession implements smtp.Backend.
func (h *handler) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{h: h}, nil }

type session struct {
	h     *handler
	rcpts []string
}

// Mail accepts any sender: DSNs come from the null sender <>.
func (s *session) Mail(string, *smtp.MailOptions) error { return nil }

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	_, domain, _ := strings.Cut(to, "@")
	if !s.h.domains[strings.ToLower(domain)] {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Not a bounce domain of this server"}
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	err := s.h.handle(context.Background(), s.rcpts, r)
	switch {
	case errors.Is(err, smtp.ErrDataTooLarge):
		return err
	case errors.Is(err, errNotApplied):
		// Redis failed: a 4xx has the sending system try again later,
		// where a 250 would lose the report.
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Report not applied; try again later"}
	}
	return nil // accepted whatever it was: a bounce is never bounced back
}

// errNotApplied is a report read but not applied (OutcomeError).
var errNotApplied = errors.New("bounce report not applied")

func (s *session) Reset()        { s.rcpts = nil }
func (s *session) Logout() error { return nil }

// handle reads one report and hands it to the Applier.
func (h *handler) handle(ctx context.Context, rcpts []string, r io.Reader) error {
	a := h.o.Applier
	w := &sizeWatch{r: r}
	rep, err := Parse(w)
	_, _ = io.Copy(io.Discard, w)
	if w.tooLarge {
		a.Unparsed(SourceSMTP)
		a.logger().Warn("bounce report refused: over the size limit", "max_bytes", h.o.MaxBytes)
		return smtp.ErrDataTooLarge
	}
	if err != nil {
		a.Unparsed(SourceSMTP)
		a.logger().Info("mail to the bounce domain is not a report; ignored", "why", reason(err))
		return nil
	}
	if a.Apply(ctx, SourceSMTP, rcpts, rep) == OutcomeError {
		return errNotApplied
	}
	return nil
}

// sizeWatch notes when go-smtp cut the message at MaxMessageBytes, however
// the parser reported it.
type sizeWatch struct {
	r        io.Reader
	tooLarge bool
}

func (w *sizeWatch) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if errors.Is(err, smtp.ErrDataTooLarge) {
		w.tooLarge = true
	}
	return n, err
}

// reason names a parse failure in fixed words.
func reason(err error) string {
	if errors.Is(err, ErrNotAReport) {
		return "not a report"
	}
	return "malformed"
}
