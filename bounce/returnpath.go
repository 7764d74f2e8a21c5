// Package bounce hears what happens to a reminder after SMTP accepted it:
// delivery status notifications (RFC 3464) and feedback-loop complaints
// (ARF, RFC 5965) that arrive later, by email, at the bounce domain. Each
// report is mapped back to its send by the return-path token, else by the
// original Message-ID, and the recipient suppressed by the same table that
// classifies SMTP replies (mail.Classify).
package bounce

import (
	"crypto/hmac"
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"

	"github.com/basketassist/basketassist/secrets"
)

// ReturnPath is the envelope sender of one send: b-<token>@domain, where
// the token is the send key (an opaque hash of storefront and basket, see
// basket.SendKey), the step, and a 48-bit signature, so that no forged
// bounce can name a send it did not see. It names no person.
func ReturnPath(keys *secrets.Keys, sendKey string, step int, domain string) string {
	id := sendKey + "s" + strconv.Itoa(step)
	return "b-" + id + "-" + sign(keys, "return-path", id) + "@" + domain
}

// sign is the 48-bit signature of id for purpose (return-path,
// message-id): one never stands for the other.
func sign(keys *secrets.Keys, purpose, id string) string {
	return hex.EncodeToString(keys.Sign([]byte(purpose + "\x00" + id))[:6])
}

var returnPathRe = regexp.MustCompile(`^b-([0-9a-f]{24})s([0-9]{1,3})-([0-9a-f]{12})$`)

// ParseReturnPath reads a return path that ReturnPath made, checking its
// signature. Local parts are compared in lower case: some systems fold them.
func ParseReturnPath(keys *secrets.Keys, addr string) (sendKey string, step int, ok bool) {
	local, _, found := strings.Cut(strings.Trim(strings.TrimSpace(addr), "<>"), "@")
	if !found {
		return "", 0, false
	}
	m := returnPathRe.FindStringSubmatch(strings.ToLower(local))
	if m == nil || !hmac.Equal([]byte(m[3]), []byte(sign(keys, "return-path", m[1]+"s"+m[2]))) {
		return "", 0, false
	}
	step, _ = strconv.Atoi(m[2])
	return m[1], step, true
}

// MessageID is a reminder's Message-ID, basket.<send key>.s<step>.<signature>@domain:
// deterministic per (storefront, basket, step) under one secrets.key, so
// that even a receiving system can recognise a duplicate, and signed as
// the return path is, so that a report found by it (a complaint sent to a
// fixed address of the bounce domain) names a send it saw: anyone can work
// out a send key from a storefront and a basket id. It reveals no basket
// id and names no person.
func MessageID(keys *secrets.Keys, sendKey string, step int, domain string) string {
	id := sendKey + ".s" + strconv.Itoa(step)
	return "basket." + id + "." + sign(keys, "message-id", id) + "@" + domain
}

// A Message-ID as MessageID writes it, or, without the signature, as
// reminders sent until 2026-12 had it.
var messageIDRe = regexp.MustCompile(`^basket\.([0-9a-f]{24})\.s([0-9]{1,3})(?:\.([0-9a-f]{12}))?@`)

// ParseMessageID reads the send key and step from a reminder's Message-ID,
// with or without angle brackets. signed is false for the unsigned form of
// reminders sent before Message-IDs were signed: anyone could have written
// it, so only a report whose source vouches for it (a provider's signed
// webhook, about mail the provider carried) may be matched by it.
func ParseMessageID(keys *secrets.Keys, id string) (sendKey string, step int, signed, ok bool) {
	m := messageIDRe.FindStringSubmatch(strings.ToLower(strings.Trim(strings.TrimSpace(id), "<>")))
	if m == nil {
		return "", 0, false, false
	}
	if m[3] != "" && !hmac.Equal([]byte(m[3]), []byte(sign(keys, "message-id", m[1]+".s"+m[2]))) {
		return "", 0, false, false
	}
	step, _ = strconv.Atoi(m[2])
	return m[1], step, m[3] != "", true
}
