package mail

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHTMLPartWritesNonASCIIAsReferences(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", maxLine-6)
	for _, c := range []struct{ name, in, want, encoding string }{
		{"ascii", "<p>Hi Ann</p>", "<p>Hi Ann</p>", "8bit"},
		{"pound and names", `<p title="Zoë">£178.00 × 2 — ok</p>`, `<p title="Zo&#235;">&#163;178.00 &#215; 2 &#8212; ok</p>`, "8bit"},
		{"outside the BMP", "<p>🛒</p>", "<p>&#128722;</p>", "8bit"},
		{"a reference fills the longest line", long + "£\n" + long + "£", long + "&#163;\n" + long + "&#163;", "8bit"},
		{"a reference would make a line too long", long + "a£\n", long + "a£\n", "quoted-printable"},
		{"an ASCII style element goes as it is", "<style>p{color:red}</style>", "<style>p{color:red}</style>", "8bit"},
		{"a style element is left alone", "<style>p::before{content:'£'}</style><p>£</p>", "<style>p::before{content:'£'}</style><p>£</p>", "quoted-printable"},
		{"a script element is left alone", "<SCRIPT>x='é'</SCRIPT>", "<SCRIPT>x='é'</SCRIPT>", "quoted-printable"},
		{"invalid UTF-8 is left alone", "<p>\xff£</p>", "<p>\xff£</p>", "quoted-printable"},
		{"a CDATA section is left alone", "<svg><![CDATA[£]]></svg>", "<svg><![CDATA[£]]></svg>", "quoted-printable"},
		{"a noscript element is left alone", "<NoScript>é</NoScript>", "<NoScript>é</NoScript>", "quoted-printable"},
		{"an obsolete raw text element is left alone", "<xmp>é</xmp>", "<xmp>é</xmp>", "quoted-printable"},
		// "&#128;" reads as "€" (HTML maps 128 to 159 through Windows-1252).
		{"a C1 control has no reference", "<p>\u0085£</p>", "<p>\u0085£</p>", "quoted-printable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := testMessage()
			m.HTML = c.in
			var eml bytes.Buffer
			require.NoError(t, WriteEML(&eml, m, nil))
			_, got := mimeParts(t, eml.Bytes())
			assert.Equal(t, c.encoding, got.encoding)
			body := strings.ReplaceAll(got.body, "\r\n", "\n")
			assert.Equal(t, c.want, body)
			if c.encoding == "8bit" {
				assert.Equal(t, c.in, html.UnescapeString(body), "a browser reads the same text")
			}
			write, _, _ := htmlPart(c.in, true)
			var w bytes.Buffer
			n, err := write(&w)
			require.NoError(t, err)
			assert.Equal(t, int64(w.Len()), n, "the part's writer counts what it wrote")
			if c.encoding == "8bit" {
				want, _ := plainLines(c.in, true)
				assert.Equal(t, want, w.Len(), "plainLines knows the written length")
			}
		})
	}
}

func TestPartEncodingLeavesOnlySafeASCIIUnencoded(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", maxLine)
	for _, c := range []struct {
		name, body string
		want       string
	}{
		{"ascii lines", "Hello\nworld\n", "8bit"},
		{"CRLF lines", "Hello\r\nworld\r\n", "8bit"},
		{"the longest line SMTP carries", long + "\n" + long, "8bit"},
		{"the longest line, CRLF", long + "\r\n", "8bit"},
		{"a line too long", long + "a\nb", "quoted-printable"},
		{"non-ASCII", "£10", "quoted-printable"},
		{"a bare CR", "a\rb", "quoted-printable"},
		{"a CR at the end", "a\r", "quoted-printable"},
		{"NUL", "a\x00b", "quoted-printable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := testMessage()
			m.Text = c.body
			var eml bytes.Buffer
			require.NoError(t, WriteEML(&eml, m, nil))
			text, _ := mimeParts(t, eml.Bytes())
			assert.Equal(t, c.want, text.encoding)
			if !strings.Contains(strings.ReplaceAll(c.body, "\r\n", ""), "\r") {
				// (quoted-printable text turns a bare CR into a line break)
				assert.Equal(t, strings.ReplaceAll(c.body, "\r\n", "\n"), strings.ReplaceAll(text.body, "\r\n", "\n"), "the body survives")
			}
		})
	}
}

// An HTML part with non-ASCII text goes out unencoded as references, the
// text part beside it as quoted-printable, both decoding to what was
// written, over SMTP and under a DKIM signature that verifies.
func TestNonASCIIRemindersSurviveTheWireAndTheirSignature(t *testing.T) {
	t.Parallel()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	keyFile := filepath.Join(t.TempDir(), "dkim.pem")
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	signer, err := NewDKIMSigner(DKIMOptions{Domain: "pink.example", Selector: "s1", KeyFile: keyFile})
	require.NoError(t, err)

	s, srv := setupSender(t, 1)
	s.dkim = signer
	m := testMessage()
	m.Text = "Grüße, Zoë: 2 × £89.00\n.leading dot\n"
	m.HTML = "<p>Grüße, Zoë: 2 × £89.00</p>\n.<b>leading dot</b>\n"
	var h handOvers
	require.NoError(t, s.Send(context.Background(), m, h.f))
	msgs := srv.Messages()
	require.Len(t, msgs, 1)
	data := msgs[0].Data

	text, htmlPart := mimeParts(t, data)
	assert.Equal(t, "quoted-printable", text.encoding)
	assert.Equal(t, m.Text, strings.ReplaceAll(text.body, "\r\n", "\n"))
	assert.Equal(t, "8bit", htmlPart.encoding)
	for _, b := range []byte(htmlPart.body) {
		require.Less(t, b, byte(0x80), "the unencoded part is ASCII")
	}
	assert.Equal(t, m.HTML, html.UnescapeString(strings.ReplaceAll(htmlPart.body, "\r\n", "\n")))

	pub := key.Public().(ed25519.PublicKey)
	verifications, err := dkim.VerifyWithOptions(bytes.NewReader(data), &dkim.VerifyOptions{
		LookupTXT: func(string) ([]string, error) {
			return []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}, nil
		}})
	require.NoError(t, err)
	require.Len(t, verifications, 1)
	assert.NoError(t, verifications[0].Err, "the signature verifies on the bytes received")
}

type part struct{ encoding, body string }

// mimeParts returns a multipart/alternative message's text and HTML parts,
// each with its transfer encoding and its decoded body.
func mimeParts(t *testing.T, eml []byte) (text, html part) {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(eml))
	require.NoError(t, err)
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	r := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := r.NextRawPart()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		enc := p.Header.Get("Content-Transfer-Encoding")
		var body io.Reader = p
		if enc == "quoted-printable" {
			body = quotedprintable.NewReader(p)
		}
		b, err := io.ReadAll(body)
		require.NoError(t, err)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			text = part{enc, string(b)}
		case "text/html":
			html = part{enc, string(b)}
		}
	}
	return text, html
}

// printableRun's word test against the byte-wise rule, for every byte
// value at every place in two words, alone and after another byte that is
// not printable (whose borrow could hide or fake one).
func TestPrintableRunFindsTheFirstWordWithAnotherByte(t *testing.T) {
	t.Parallel()
	printable := func(c byte) bool { return c >= 0x20 && c < 0x80 }
	for c := range 256 {
		for k := range 16 {
			for _, before := range []int{-1, 0x00, 0x1f, 0x80, 0xff} {
				b := []byte(strings.Repeat("a", 16))
				b[k] = byte(c)
				first := k // the first byte that is not printable
				if before >= 0 && k > 0 {
					b[k-1] = byte(before)
					first = k - 1
				} else if printable(byte(c)) {
					first = 16
				}
				want := first / 8 * 8
				if got := printableRun(string(b)); got != want {
					t.Fatalf("%q: printableRun %d, want %d", b, got, want)
				}
			}
		}
	}
}
