package main

import (
	netsmtp "net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/config"
	"github.com/basketassist/basketassist/internal/smtptest"
	"github.com/basketassist/basketassist/policy"
)

// A mailbox that stays full: bounces.soft_limit (3) refusals in a row
// suppress the recipient globally as soft_bounce and end the reminder.
func TestThreeSoftBouncesInARowSuppress(t *testing.T) {
	t.Parallel()
	b := setup(t, realRedis)
	full := smtptest.Fault{Stage: smtptest.AtRcpt, Code: 452, Enhanced: smtp.EnhancedCode{4, 2, 2}, Text: "Mailbox full"}
	b.smtp.Fail(full, full, full)
	b.send(b.event(basket.Updated, "b_full", "full@example.com"))
	require.Eventually(t, func() bool { return b.check("full@example.com", "newsletter")["suppressed"] == true },
		20*time.Second, 20*time.Millisecond, "suppressed globally, newsletters included")
	by, _ := b.check("full@example.com", "basket_assistance")["by"].(map[string]any)
	assert.Equal(t, "soft_bounce", by["reason"])
	b.settle(10 * time.Second)
	assert.Empty(t, b.smtp.Messages(), "not retried after the third")
	assert.Equal(t, 3, strings.Count(b.logs.String(), `"smtp_status":"4.2.2"`))
}

// Greylisting (4.7.1) is the server's policy, not the mailbox: however often
// it comes, nobody is suppressed, and the email goes out once it passes.
func TestGreylistingIsNotASoftBounce(t *testing.T) {
	t.Parallel()
	b := setup(t, realRedis)
	grey := smtptest.Fault{Stage: smtptest.AtRcpt, Code: 451, Enhanced: smtp.EnhancedCode{4, 7, 1}, Text: "Greylisted, try later"}
	b.smtp.Fail(grey, grey, grey, grey)
	b.send(b.event(basket.Updated, "b_grey", "grey@example.com"))
	b.smtp.WaitFor(t, 1, 30*time.Second)
	assert.Equal(t, false, b.check("grey@example.com", "basket_assistance")["suppressed"])
}

// dsn is a delivery status notification in the shape of RFC 3464's
// examples, as a receiving MTA sends it a day later.
func dsn(status, returnedMessageID string) string {
	return strings.ReplaceAll(`From: MAILER-DAEMON@mx.example.com
To: whoever
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="RAA14128.773615765/mx.example.com"

--RAA14128.773615765/mx.example.com
Content-Type: text/plain

Your message could not be delivered to <late@example.com>.

--RAA14128.773615765/mx.example.com
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com
Arrival-Date: Thu, 3 Dec 2026 10:00:00 +0000

Original-Recipient: rfc822;late@example.com
Final-Recipient: rfc822;late@example.com
Action: failed
Status: `+status+` (bad destination mailbox address)
Diagnostic-Code: smtp; 550 5.1.1 <late@example.com>: Recipient address rejected: User unknown

--RAA14128.773615765/mx.example.com
Content-Type: text/rfc822-headers

Message-ID: <`+returnedMessageID+`>
Subject: Your basket

--RAA14128.773615765/mx.example.com--
`, "\n", "\r\n")
}

// arf is a feedback-loop complaint (RFC 5965) with the original headers.
func arf(feedbackType, returnedMessageID string) string {
	return strings.ReplaceAll(`From: feedback@mailbox.example
To: fbl@bounces.pink.example
Subject: FW: Your basket
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="part1_13d.2e68ed54_boundary"

--part1_13d.2e68ed54_boundary
Content-Type: text/plain; charset="US-ASCII"

This is an email abuse report for an email message received from IP 192.0.2.1.

--part1_13d.2e68ed54_boundary
Content-Type: message/feedback-report

Feedback-Type: `+feedbackType+`
User-Agent: SomeGenerator/1.0
Version: 1

--part1_13d.2e68ed54_boundary
Content-Type: text/rfc822-headers

From: <hello@pink.example>
Message-ID: <`+returnedMessageID+`>
Subject: Your basket

--part1_13d.2e68ed54_boundary--
`, "\n", "\r\n")
}

func withBounces(c *config.Config) {
	c.Bounces.Domain, c.Bounces.Listen = "bounces.pink.example", "127.0.0.1:0"
}

// A reminder goes out with a return path that names the send, not the
// person; a DSN that comes back to it a day later suppresses the recipient.
func TestLateDSNToTheReturnPathSuppressesHardBounce(t *testing.T) {
	t.Parallel()
	b := setup(t, realRedis, withBounces)
	b.send(b.event(basket.Updated, "b_d1", "late@example.com"))
	msg := b.smtp.WaitFor(t, 1, 15*time.Second)[0]
	require.Regexp(t, `^b-[0-9a-f]{24}s1-[0-9a-f]{12}@bounces\.pink\.example$`, msg.From, "a signed token, no address")
	b.settle(10 * time.Second)
	require.Equal(t, false, b.check("late@example.com", "basket_assistance")["suppressed"])

	id := strings.Trim(msg.Parsed(t).Header.Get("Message-Id"), "<>")
	require.NoError(t, netsmtp.SendMail(b.main.BounceAddr.String(), nil, "", []string{msg.From}, []byte(dsn("5.1.1", id))))
	by, _ := b.check("late@example.com", "newsletter")["by"].(map[string]any)
	require.NotNil(t, by, "suppressed globally, newsletters included")
	assert.Equal(t, "hard_bounce", by["reason"])
	assert.Contains(t, b.logs.String(), `"via":"return_path"`)
	ex, _ := b.explain("b_d1")
	require.Len(t, ex.Decisions, 2, "sent, then the late bounce, in the basket's record")
	assert.Equal(t, policy.Bounced, ex.Decisions[1].Outcome)
	assert.Equal(t, policy.HardBounce, ex.Decisions[1].Reason)
	assertNoAddress(t, b.rdb, "late@example.com")
	assert.NotContains(t, b.logs.String(), "late@example.com", "the report's text never reaches the log")
}

// A complaint from a feedback loop arrives at a fixed address of the bounce
// domain; the returned Message-ID finds the send.
func TestComplaintThroughTheFeedbackLoopSuppresses(t *testing.T) {
	t.Parallel()
	b := setup(t, realRedis, withBounces)
	b.send(b.event(basket.Updated, "b_spam", "spam@example.com"))
	msg := b.smtp.WaitFor(t, 1, 15*time.Second)[0]
	id := strings.Trim(msg.Parsed(t).Header.Get("Message-Id"), "<>")
	// The sink has the email a moment before the worker records the send;
	// a report that came in between would be recorded before it.
	require.Equal(t, policy.Send, b.decisionOf("b_spam").Outcome)

	bounceAddr := b.main.BounceAddr.String()
	require.NoError(t, netsmtp.SendMail(bounceAddr, nil, "", []string{"fbl@bounces.pink.example"}, []byte(arf("not-spam", id))))
	assert.Equal(t, false, b.check("spam@example.com", "basket_assistance")["suppressed"], "not-spam is no complaint")

	require.NoError(t, netsmtp.SendMail(bounceAddr, nil, "", []string{"fbl@bounces.pink.example"}, []byte(arf("abuse", id))))
	by, _ := b.check("spam@example.com", "newsletter")["by"].(map[string]any)
	require.NotNil(t, by)
	assert.Equal(t, "complaint", by["reason"])
	ex, _ := b.explain("b_spam")
	assert.Equal(t, policy.Complained, ex.Decisions[len(ex.Decisions)-1].Outcome, "in the basket's record")
	assert.Contains(t, b.logs.String(), `"via":"message_id"`)
}

// What cannot be mapped is accepted and ignored, never bounced back; a
// forged token or Message-ID suppresses nobody; other domains are refused.
func TestBounceListenerIgnoresWhatItCannotMap(t *testing.T) {
	t.Parallel()
	b := setup(t, realRedis, withBounces)
	b.send(b.event(basket.Updated, "b_safe", "safe@example.com"))
	msg := b.smtp.WaitFor(t, 1, 15*time.Second)[0]
	forged := msg.From[:len("b-")+24+2] + "-000000000000@bounces.pink.example" // the right send, no signature
	addr := b.main.BounceAddr.String()
	require.NoError(t, netsmtp.SendMail(addr, nil, "", []string{forged}, []byte(dsn("5.1.1", "someone@else.example"))))
	require.NoError(t, netsmtp.SendMail(addr, nil, "", []string{"postmaster@bounces.pink.example"}, []byte("Subject: out of office\r\n\r\nback Monday\r\n")))
	// Anyone can work out a send key from the storefront and basket id:
	// a Message-ID without the signature, or with a made-up one, names no send.
	sendKey := basket.SendKey("pink", "b_safe")
	for _, id := range []string{"basket." + sendKey + ".s1@pink.example", "basket." + sendKey + ".s1.000000000000@pink.example"} {
		require.NoError(t, netsmtp.SendMail(addr, nil, "", []string{"postmaster@bounces.pink.example"}, []byte(dsn("5.1.1", id))))
		require.NoError(t, netsmtp.SendMail(addr, nil, "", []string{"fbl@bounces.pink.example"}, []byte(arf("abuse", id))))
	}
	assert.Equal(t, false, b.check("safe@example.com", "basket_assistance")["suppressed"])
	assert.Contains(t, b.logs.String(), "bounce report matches no send")
	assert.Contains(t, b.logs.String(), "is not a report")
	err := netsmtp.SendMail(addr, nil, "", []string{"anyone@elsewhere.example"}, []byte(dsn("5.1.1", "x@y")))
	assert.ErrorContains(t, err, "550", "not an open relay")
}

// One failed email counts once towards bounces.soft_limit (3): a DSN with a
// block for each of three expansions of an address, delivered three times,
// suppresses nobody.
func TestALateSoftBounceCountsOncePerEmail(t *testing.T) {
	t.Parallel()
	b := setup(t, realRedis, withBounces)
	b.send(b.event(basket.Updated, "b_soft", "soft@example.com"))
	msg := b.smtp.WaitFor(t, 1, 15*time.Second)[0]
	b.settle(10 * time.Second)
	report := dsn("4.2.2", strings.Trim(msg.Parsed(t).Header.Get("Message-Id"), "<>"))
	i := strings.Index(report, "Original-Recipient:")
	j := i + strings.Index(report[i:], "\r\n\r\n")
	block := report[i:j]
	report = report[:j] + "\r\n\r\n" + block + "\r\n\r\n" + block + report[j:]
	require.Equal(t, 3, strings.Count(report, "Action: failed"))
	for range 3 {
		require.NoError(t, netsmtp.SendMail(b.main.BounceAddr.String(), nil, "", []string{msg.From}, []byte(report)))
	}
	assert.Equal(t, false, b.check("soft@example.com", "newsletter")["suppressed"], "one email, one soft bounce")
	assert.Equal(t, 8, strings.Count(b.logs.String(), "soft bounce of a send already counted"))
	ex, _ := b.explain("b_soft")
	soft := 0
	for _, d := range ex.Decisions {
		if d.Reason == policy.SoftBounce {
			soft++
		}
	}
	assert.Equal(t, 1, soft, "recorded once in the basket's decisions too")
}
