package mail

import (
	"bytes"
	netmail "net/mail"
	"testing"
	"time"

	"github.com/basketassist/basketassist/templates"
)

// BenchmarkRenderMessage measures building one reminder's MIME message and
// writing it out in wire format, as SMTPSender.Send does before it takes a
// connection: go-mail's headers, the text part quoted-printable and the
// HTML part as unencoded ASCII, into a reused buffer (wireBuffers).
func BenchmarkRenderMessage(b *testing.B) {
	r, err := templates.New(templates.Options{})
	if err != nil {
		b.Fatal(err)
	}
	e := templates.Sample("Pink Shirts", "en-GB", 1)
	out, err := r.Email("pink", "en-GB", e)
	if err != nil {
		b.Fatal(err)
	}
	m := &Message{From: &netmail.Address{Name: "Pink Shirts", Address: "hello@pink.example"}, To: &netmail.Address{Name: "Ann", Address: "ann@example.com"},
		Subject: out.Subject, Text: out.Text, HTML: out.HTML, Date: time.Now(), MessageID: "basket.x.s1@pink.example",
		ListID: "Pink Shirts basket assistance <basket-assistance.pink.pink.example>", Unsubscribe: e.UnsubscribeURL, Lang: out.Lang}
	w := wireWriter{}
	if _, err := render(m, nil, &w, true); err != nil {
		b.Fatal(err)
	}
	data := w.finish()
	if !bytes.Contains(data, []byte("Content-Type: text/html")) {
		b.Fatal("no HTML part")
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	buf := make([]byte, 0, 8<<10)
	for b.Loop() {
		w := wireWriter{out: buf[:0]}
		if _, err := render(m, nil, &w, true); err != nil {
			b.Fatal(err)
		}
	}
}
