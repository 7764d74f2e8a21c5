package mail

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// asciiHTML returns html with every non-ASCII character written as a
// numeric character reference ("£" as "&#163;"), which a mail client
// decodes to the same text. An all-ASCII HTML part can go out as it is
// (partEncoding) instead of quoted-printable: quoted-printable encoding was
// 7 % of the service's CPU while sending (scripts/bench.sh --cpuprofile),
// and it makes the message bigger. html is returned unchanged when it is
// not valid UTF-8, or when it holds raw text where references are not
// decoded (<script>, <style>, CDATA): then the part stays quoted-printable.
func asciiHTML(html string) string {
	first := nonASCII(html)
	if first == len(html) || !utf8.ValidString(html) || holdsRawText(html) {
		return html
	}
	var b strings.Builder
	b.Grow(len(html) + len(html)/8)
	for rest := html; ; {
		i := nonASCII(rest)
		b.WriteString(rest[:i])
		if i == len(rest) {
			return b.String()
		}
		r, size := utf8.DecodeRuneInString(rest[i:])
		b.WriteString("&#")
		b.WriteString(strconv.Itoa(int(r)))
		b.WriteByte(';')
		rest = rest[i+size:]
	}
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
// literally, without decoding character references; HTML matches them
// case-insensitively.
var rawTextOpeners = []string{"<script", "<style", "<![cdata["}

// holdsRawText reports whether html opens any of rawTextOpeners.
func holdsRawText(html string) bool {
	for rest := html; ; {
		i := strings.IndexByte(rest, '<')
		if i < 0 {
			return false
		}
		rest = rest[i:]
		for _, opener := range rawTextOpeners {
			if len(rest) >= len(opener) && strings.EqualFold(rest[:len(opener)], opener) {
				return true
			}
		}
		rest = rest[1:]
	}
}
