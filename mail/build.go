package mail

import (
	"fmt"
	"io"
	"unsafe"

	gomail "github.com/wneessen/go-mail"
)

// buildMsg turns m into a go-mail message: multipart/alternative, no
// User-Agent or X-Mailer, DKIM-signed when dkim is set. The To header is
// built from the parsed address, so any display name is quoted or encoded
// as RFC 5322 and RFC 2047 require, whatever characters it holds.
func buildMsg(m *Message, dkim *gomail.DKIMSigner) (*gomail.Msg, error) {
	if m.From == nil || m.To == nil {
		return nil, fmt.Errorf("message %s: from and to are required", m.MessageID)
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if dkim != nil {
		msg.SetDKIM(dkim)
	}
	msg.FromMailAddress(m.From)
	msg.ToMailAddress(m.To)
	msg.Subject(m.Subject)
	msg.SetDateWithValue(m.Date)
	msg.SetMessageIDWithValue(m.MessageID)
	msg.SetGenHeader(gomail.Header("List-Id"), m.ListID)
	msg.SetListUnsubscribe(m.Unsubscribe)
	msg.SetListUnsubscribePost()
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	if m.Lang != "" {
		msg.SetGenHeader(gomail.Header("Content-Language"), m.Lang)
	}
	msg.SetBodyWriter(gomail.TypeTextPlain, writeString(m.Text))
	msg.AddAlternativeWriter(gomail.TypeTextHTML, writeString(m.HTML))
	return msg, nil
}

// writeString is a go-mail part body that writes s as it is, sparing the
// copy of it that SetBodyString makes (6 KB of a reminder's HTML). The
// bytes are s's own: io.Writer's contract forbids Write to modify them.
func writeString(s string) func(io.Writer) (int64, error) {
	return func(w io.Writer) (int64, error) {
		n, err := w.Write(unsafe.Slice(unsafe.StringData(s), len(s)))
		return int64(n), err
	}
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
