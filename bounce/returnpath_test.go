package bounce

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/secrets"
)

func TestReturnPathRoundTripsAndRefusesForgeries(t *testing.T) {
	t.Parallel()
	keys, other := secrets.Throwaway(), secrets.Throwaway()
	key := basket.SendKey("pink", "b_42")
	rp := ReturnPath(keys, key, 2, "bounces.pink.example")
	assert.LessOrEqual(t, len(strings.Split(rp, "@")[0]), 64, "fits an SMTP local part")
	assert.NotContains(t, rp, "b_42", "names no basket")

	got, step, ok := ParseReturnPath(keys, "<"+strings.ToUpper(rp[:10])+rp[10:]+">")
	require.True(t, ok, "case-folded by a relay and in brackets, still read")
	assert.Equal(t, key, got)
	assert.Equal(t, 2, step)

	_, _, ok = ParseReturnPath(other, rp)
	assert.False(t, ok, "another deployment's key does not verify it")
	_, _, ok = ParseReturnPath(keys, strings.Replace(rp, "s2-", "s1-", 1))
	assert.False(t, ok, "the step is signed")
	_, _, ok = ParseReturnPath(keys, "postmaster@bounces.pink.example")
	assert.False(t, ok)
}

func TestMessageIDIsDeterministicAndSigned(t *testing.T) {
	t.Parallel()
	keys, other := secrets.Throwaway(), secrets.Throwaway()
	sendKey := basket.SendKey("pink", "b_1")
	id := MessageID(keys, sendKey, 1, "pink.example")
	assert.Regexp(t, `^basket\.[0-9a-f]{24}\.s1\.[0-9a-f]{12}@pink\.example$`, id)
	assert.Equal(t, id, MessageID(keys, sendKey, 1, "pink.example"), "the same for every retry")
	assert.NotEqual(t, id, MessageID(keys, sendKey, 2, "pink.example"))

	key, step, signed, ok := ParseMessageID(keys, "<"+id+">")
	require.True(t, ok)
	assert.True(t, signed)
	assert.Equal(t, sendKey, key)
	assert.Equal(t, 1, step)
	_, _, _, ok = ParseMessageID(keys, strings.ToUpper(id))
	assert.True(t, ok, "read in any case")

	_, _, _, ok = ParseMessageID(other, id)
	assert.False(t, ok, "another deployment's key does not verify it")
	_, _, _, ok = ParseMessageID(keys, strings.Replace(id, ".s1.", ".s2.", 1))
	assert.False(t, ok, "the step is signed")
	_, _, _, ok = ParseMessageID(keys, MessageID(keys, sendKey, 1, "x")[:len("basket.")+24+3]+".000000000000@pink.example")
	assert.False(t, ok, "a made-up signature")
	_, _, _, ok = ParseMessageID(keys, "<CAF1234@mail.example>")
	assert.False(t, ok)

	// The form of reminders sent before Message-IDs were signed: read, but
	// marked unsigned (anyone can work out a send key).
	key, _, signed, ok = ParseMessageID(keys, "<basket."+sendKey+".s1@pink.example>")
	require.True(t, ok)
	assert.False(t, signed)
	assert.Equal(t, sendKey, key)
}

func TestParseReadsDSNStatusesAndRefusesOtherMail(t *testing.T) {
	t.Parallel()
	dsn := "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nsorry\r\n" +
		"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n" +
		"Final-Recipient: rfc822;a@x.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n" +
		"Final-Recipient: rfc822;b@x.example\r\nAction: delayed\r\nStatus: 4.4.7\r\n\r\n" +
		"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <m@x>\r\nReturn-Path: <rp@x>\r\n\r\n--b--\r\n"
	rep, err := Parse(strings.NewReader(dsn))
	require.NoError(t, err)
	assert.Equal(t, DSN, rep.Kind)
	assert.Equal(t, []string{"5.1.1"}, rep.Statuses, "only failed recipients")
	assert.Equal(t, "<m@x>", rep.MessageID)
	assert.Equal(t, "<rp@x>", rep.ReturnPath)

	_, err = Parse(strings.NewReader("Subject: out of office\r\n\r\nback Monday\r\n"))
	assert.ErrorIs(t, err, ErrNotAReport)
}
