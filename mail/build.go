package mail

import (
	"encoding/binary"
	"fmt"
	"io"
	"unicode/utf8"
	"unsafe"

	gomail "github.com/wneessen/go-mail"
)

// buildMsg turns m into a go-mail message: multipart/alternative, no
// User-Agent or X-Mailer, DKIM-signed when dkim is set. The To header is
// built from the parsed address, so any display name is quoted or encoded
// as RFC 5322 and RFC 2047 require, whatever characters it holds. With
// unencoded, parts that can go out unencoded do (partEncoding), and
// eightBit reports whether any does; without, every part is
// quoted-printable.
func buildMsg(m *Message, dkim *gomail.DKIMSigner, unencoded bool) (msg *gomail.Msg, eightBit bool, err error) {
	if m.From == nil || m.To == nil {
		return nil, false, fmt.Errorf("message %s: from and to are required", m.MessageID)
	}
	msg = gomail.NewMsg(gomail.WithNoDefaultUserAgent())
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
	textEncoding, textPlain := partEncoding(m.Text, unencoded)
	msg.SetBodyWriter(gomail.TypeTextPlain, writeString(m.Text), textEncoding)
	writeHTML, htmlEncoding, htmlPlain := htmlPart(m.HTML, unencoded)
	msg.AddAlternativeWriter(gomail.TypeTextHTML, writeHTML, htmlEncoding)
	return msg, textPlain || htmlPlain, nil
}

// maxLine is the longest line SMTP carries, in octets without the CRLF
// (RFC 5321 4.5.3.1.6).
const maxLine = 998

// partEncoding writes a part that is plain US-ASCII, in lines SMTP carries
// as they are, without encoding it (when unencoded allows it, and then
// reports true); anything else as quoted-printable. go-mail writes an
// unencoded part's header as "8bit", its only setting that leaves the body
// alone ("7bit" still applies quoted-printable). For data that is in fact
// 7-bit, as here, that label is correct MIME (RFC 2045 2.7, 6.2), but a
// relay without 8BITMIME may convert such a part to quoted-printable on
// its way (RFC 6152 3), which breaks a DKIM signature: SMTPSender sends
// unencoded parts only to relays that offer 8BITMIME, and declares them
// with BODY=8BITMIME.
func partEncoding(body string, unencoded bool) (gomail.PartOption, bool) {
	if _, ok := plainLines(body, false); ok && unencoded {
		return gomail.WithPartEncoding(gomail.NoEncoding), true
	}
	return gomail.WithPartEncoding(gomail.EncodingQP), false
}

// plainLines reports whether body is US-ASCII without NUL or bare CR, in
// lines of at most maxLine octets, and returns its length. With refs, each
// non-ASCII character counts as the numeric character reference that
// writeReferences writes for it, and body must be valid UTF-8 without C1
// controls.
func plainLines(body string, refs bool) (int, bool) {
	n, line := 0, 0
	for i := 0; i < len(body); i++ {
		// Most of a body is printable ASCII: skip it eight bytes a test.
		run := printableRun(body[i:])
		if line += run; line > maxLine {
			return 0, false
		}
		if i += run; i == len(body) {
			break
		}
		switch c := body[i]; {
		case c == '\n':
			n += line + 1
			line = 0
			continue
		case c == 0:
			return 0, false
		case c == '\r':
			if i+1 == len(body) || body[i+1] != '\n' {
				return 0, false // a bare CR
			}
			n++ // a CRLF's CR is not part of the line
			continue
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(body[i:])
			if !refs || r == utf8.RuneError && size == 1 || isC1(r) {
				return 0, false
			}
			line += referenceLen(r)
			i += size - 1
		default:
			line++
		}
		if line > maxLine {
			return 0, false
		}
	}
	return n + line, true
}

// printableRun returns how many of s's leading bytes, counted in whole
// words of eight, are printable US-ASCII (0x20 to 0x7f). A word holds
// another byte exactly when, with every byte taken less 0x20, some high bit
// is set: in the word itself (0x80 and above) or in the difference (the
// first byte under 0x20 wraps, and no borrow reaches it from below).
func printableRun(s string) int {
	const low, high = 0x2020202020202020, 0x8080808080808080
	b := unsafe.Slice(unsafe.StringData(s), len(s)) // read only; see writeString
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if x := binary.LittleEndian.Uint64(b[i:]); (x|(x-low))&high != 0 {
			break
		}
	}
	return i
}

// isC1 reports whether r is a C1 control (U+0080 to U+009F), which no
// character reference can stand for: HTML reads "&#128;" to "&#159;" as
// the Windows-1252 characters at those codes ("&#128;" is "€").
func isC1(r rune) bool { return r >= 0x80 && r <= 0x9f }

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
	msg, _, err := buildMsg(m, dkim, true)
	if err != nil {
		return err
	}
	_, err = msg.WriteTo(w)
	return err
}
