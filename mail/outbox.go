package mail

import (
	"bytes"
	"context"
	"fmt"
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

// NewOutboxSender creates dir if needed. dkim, if set, signs each file as
// the SMTP sender would sign the message.
func NewOutboxSender(dir string, dkim *gomail.DKIMSigner) (*OutboxSender, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("outbox.dir: %w", err)
	}
	return &OutboxSender{dir: dir, dkim: dkim}, nil
}

// Send writes m to "<dir>/<time>-<message id>.eml". A file for the same
// Message-ID is never overwritten. handOver is called before the file is
// renamed into place: the file appearing is the hand-over.
func (o *OutboxSender) Send(ctx context.Context, m *Message, handOver HandOver) error {
	if err := ctx.Err(); err != nil {
		return reduce(StageConnect, err)
	}
	var buf bytes.Buffer
	if _, err := render(m, o.dkim, &buf, true); err != nil {
		return err
	}
	body := buf.Bytes()
	name := time.Now().UTC().Format("20060102T150405.000Z") + "-" + strings.NewReplacer("@", "_at_", "/", "_").Replace(m.MessageID) + ".eml"
	tmp, err := os.CreateTemp(o.dir, ".sending-*")
	if err != nil {
		return &SendError{Class: Temporary, Stage: StageData, Desc: "outbox not writable"}
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if m.ReturnPath != "" {
		// As the delivering MTA adds it (RFC 5321 4.4), so the file shows
		// the envelope sender a bounce would go back to.
		body = append([]byte("Return-Path: <"+m.ReturnPath+">\r\n"), body...)
	}
	if _, err := tmp.Write(body); err != nil {
		tmp.Close()
		return &SendError{Class: Temporary, Stage: StageData, Desc: "outbox not writable"}
	}
	if err := tmp.Close(); err != nil {
		return &SendError{Class: Temporary, Stage: StageData, Desc: "outbox not writable"}
	}
	if err := handOver(ctx); err != nil {
		return err
	}
	// Link, not rename: it fails instead of overwriting an existing file.
	if err := os.Link(tmp.Name(), filepath.Join(o.dir, name)); err != nil {
		return &SendError{Class: Temporary, Stage: StageData, Desc: "outbox not writable"}
	}
	return nil
}
