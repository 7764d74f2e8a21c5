package bounce

import (
	"bytes"
	"testing"

	"github.com/basketassist/basketassist/secrets"
)

// FuzzParse: any mail to the bounce domain (it is the internet's to send)
// is parsed or refused, never a panic; return paths likewise.
func FuzzParse(f *testing.F) {
	f.Add([]byte("From: a@b\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"x\"\r\n\r\n--x\r\n" +
		"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--x--\r\n"))
	f.Add([]byte("Subject: out of office\r\n\r\nback Monday\r\n"))
	f.Add([]byte("Content-Type: multipart/report; report-type=feedback-report; boundary=y\r\n\r\n--y\r\n" +
		"Content-Type: message/feedback-report\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!\r\n--y--\r\n"))
	keys := secrets.Throwaway()
	f.Fuzz(func(t *testing.T, mail []byte) {
		_, _ = Parse(bytes.NewReader(mail))
		_, _, _ = ParseReturnPath(keys, string(mail))
		_, _, _, _ = ParseMessageID(keys, string(mail))
	})
}
