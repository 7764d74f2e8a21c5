package mail

import (
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"

	gomail "github.com/wneessen/go-mail"
)

// htmlPart returns how the HTML part is written, its encoding, and whether
// that is unencoded (only if unencoded allows it, as partEncoding). HTML
// with non-ASCII text is written with each non-ASCII character as a numeric
// character reference ("£" as "&#163;"), which a mail client decodes to
// the same text, so that the part is US-ASCII and goes out unencoded
// (partEncoding) instead of quoted-printable: quoted-printable encoding was
// 7 % of the service's CPU while sending (scripts/bench.sh --cpuprofile),
// and it makes the message bigger. The references are written as the part
// is, with no second copy of the HTML. HTML that is not valid UTF-8, that
// holds raw text where references are not decoded (<script>, <style>,
// CDATA: rawTextOpeners), that holds a C1 control (plainLines), or whose
// lines would grow too long is written as it is.
func htmlPart(html string, unencoded bool) (func(io.Writer) (int64, error), gomail.PartOption, bool) {
	if unencoded && nonASCII(html) < len(html) && !holdsRawText(html) {
		if n, ok := plainLines(html, true); ok {
			return writeReferences(html, n), gomail.WithPartEncoding(gomail.NoEncoding), true
		}
	}
	enc, plain := partEncoding(html, unencoded)
	return writeString(html), enc, plain
}

// writeReferences is a go-mail part body that writes html, n bytes once
// written, with each non-ASCII character as a numeric character reference.
// html must be valid UTF-8 (plainLines checks it).
func writeReferences(html string, n int) func(io.Writer) (int64, error) {
	return func(w io.Writer) (int64, error) {
		if g, ok := w.(interface{ Grow(int) }); ok {
			g.Grow(n) // go-mail's part buffer, grown once instead of doubling
		}
		var written int64
		var ref [16]byte // "&#1114111;" at most
		for rest := html; rest != ""; {
			i := nonASCII(rest)
			k, err := w.Write(unsafe.Slice(unsafe.StringData(rest), i)) // see writeString
			written += int64(k)
			if err != nil || i == len(rest) {
				return written, err
			}
			r, size := utf8.DecodeRuneInString(rest[i:])
			b := append(strconv.AppendInt(append(ref[:0], "&#"...), int64(r), 10), ';')
			k, err = w.Write(b)
			written += int64(k)
			if err != nil {
				return written, err
			}
			rest = rest[i+size:]
		}
		return written, nil
	}
}

// referenceLen is the length of r's numeric character reference.
func referenceLen(r rune) int {
	n := 4 // "&#", a digit, ";"
	for r >= 10 {
		r /= 10
		n++
	}
	return n
}

// nonASCII returns the index of s's first non-ASCII byte, or len(s).
func nonASCII(s string) int {
	i := 0
	for ; i+8 <= len(s); i += 8 { // eight bytes a test: the HTML is mostly ASCII
		if s[i]|s[i+1]|s[i+2]|s[i+3]|s[i+4]|s[i+5]|s[i+6]|s[i+7] >= utf8.RuneSelf {
			break
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return i
		}
	}
	return len(s)
}

// rawTextOpeners start an element or section whose text a browser takes
// literally, without decoding character references: HTML's raw text
// elements, those parsed as such (<noscript> with scripting on, the
// obsolete <xmp>, <noembed>, <noframes> and <plaintext>) and CDATA
// sections. HTML matches them case-insensitively. A false match (say
// "<scripts" or one inside a comment) only costs quoted-printable.
var rawTextOpeners = []string{"<script", "<style", "<![cdata[", "<noscript", "<iframe", "<xmp", "<noembed", "<noframes", "<plaintext"}

// rawTextSeconds marks the bytes that follow "<" in some rawTextOpeners,
// in either case: most tags ("<td", "<a", "</p") are passed over on that
// byte alone.
var rawTextSeconds = func() (seconds [256]bool) {
	for _, opener := range rawTextOpeners {
		c := opener[1]
		seconds[c], seconds[unicode.ToUpper(rune(c))] = true, true
	}
	return seconds
}()

// holdsRawText reports whether html opens any of rawTextOpeners.
func holdsRawText(html string) bool {
	for rest := html; ; {
		i := strings.IndexByte(rest, '<')
		if i < 0 {
			return false
		}
		rest = rest[i:]
		if len(rest) < 2 || !rawTextSeconds[rest[1]] {
			rest = rest[1:]
			continue
		}
		for _, opener := range rawTextOpeners {
			if len(rest) >= len(opener) && strings.EqualFold(rest[:len(opener)], opener) {
				return true
			}
		}
		rest = rest[1:]
	}
}
