package mail

import (
	"fmt"
	"io"
	"strings"
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
	html := asciiHTML(m.HTML)
	msg.SetBodyWriter(gomail.TypeTextPlain, writeString(m.Text), partEncoding(m.Text))
	msg.AddAlternativeWriter(gomail.TypeTextHTML, writeString(html), partEncoding(html))
	return msg, nil
}

// maxLine is the longest line SMTP carries, in octets without the CRLF
// (RFC 5321 4.5.3.1.6).
const maxLine = 998

// partEncoding writes a part that is plain US-ASCII, in lines SMTP carries
// as they are, without encoding it; anything else as quoted-printable.
// go-mail writes an unencoded part's header as "8bit", its only setting
// that leaves the body alone ("7bit" still applies quoted-printable); for
// data that is in fact 7-bit, as here, that label is correct MIME (RFC
// 2045 2.7, 6.2) and needs no 8BITMIME from the relay, which only 8-bit
// octets would (RFC 6152).
func partEncoding(body string) gomail.PartOption {
	for rest := body; rest != ""; {
		line, after, ended := strings.Cut(rest, "\n")
		if ended {
			line = strings.TrimSuffix(line, "\r") // a CRLF's CR is not part of the line
		}
		if len(line) > maxLine || !plainLine(line) {
			return gomail.WithPartEncoding(gomail.EncodingQP)
		}
		rest = after
	}
	return gomail.WithPartEncoding(gomail.NoEncoding)
}

// plainLine reports whether line holds only US-ASCII other than NUL and CR.
func plainLine(line string) bool {
	for i := 0; i < len(line); i++ {
		if c := line[i]; c >= 0x80 || c == 0 || c == '\r' {
			return false
		}
	}
	return true
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
