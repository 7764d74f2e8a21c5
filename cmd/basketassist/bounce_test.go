package main

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/internal/smtptest"
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
