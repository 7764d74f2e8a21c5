package worker

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// OutboxSender writes each message as an .eml file into a folder instead of
// sending it: the dev-mode stand-in for SMTP (smtp.host empty). The files
// hold addresses, as any mail catcher does; it is not for production.
type OutboxSender struct {
	dir  string
	dkim *gomail.DKIMSigner
}

var _ Sender = (*OutboxSender)(nil)

// NewOutboxSender creates dir if needed. dkim, if set, signs each file as
// the SMTP sender would sign the message.
func NewOutboxSender(dir string, dkim *gomail.DKIMSigner) (*OutboxSender, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("outbox.dir: %w", err)
	}
	return &OutboxSender{dir: dir, dkim: dkim}, nil
}

// Send writes m to "<dir>/<time>-<message id>.eml". A file for the same
// Message-ID is never overwritten.
func (o *OutboxSender) Send(ctx context.Context, m *Message) error {
	if err := ctx.Err(); err != nil {
		return &SendError{Class: Temporary, Err: err}
	}
	msg, err := buildMsg(m, o.dkim)
	if err != nil {
		return &SendError{Class: Rejected, Err: err}
	}
	name := time.Now().UTC().Format("20060102T150405.000Z") + "-" + strings.NewReplacer("@", "_at_", "/", "_").Replace(m.MessageID) + ".eml"
	f, err := os.OpenFile(filepath.Join(o.dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return &SendError{Class: Temporary, Err: err}
	}
	if _, err := msg.WriteTo(f); err != nil {
		f.Close()
		return &SendError{Class: Temporary, Err: err}
	}
	if err := f.Close(); err != nil {
		return &SendError{Class: Temporary, Err: err}
	}
	return nil
}

// WriteEML writes m as an .eml (RFC 5322) message, DKIM-signed when dkim is set.
func WriteEML(w io.Writer, m *Message, dkim *gomail.DKIMSigner) error {
	msg, err := buildMsg(m, dkim)
	if err != nil {
		return err
	}
	_, err = msg.WriteTo(w)
	return err
}
