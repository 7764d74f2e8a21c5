package main

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/config"
	"github.com/basketassist/basketassist/internal/smtptest"
	"github.com/basketassist/basketassist/worker"
)

// TestSMTPRepliesNamingTheAddressLeaveNoTrace drives 451 and 550 replies
// whose text names the recipient, at MAIL, RCPT and after DATA, then reads
// every Redis key and value (asynq's task records, with their last errors,
// included) and every log line, and finds the address nowhere.
func TestSMTPRepliesNamingTheAddressLeaveNoTrace(t *testing.T) {
	t.Parallel()
	// Three retries: basket 1 is sent on its last, basket 2 exhausts them.
	b := setup(t, realRedis, func(c *config.Config) { c.Worker.MaxRetry = 3 })
	const addr = "grey.secret@shop.test"
	says := "<" + addr + ">: "

	// Basket 1: refused three times, temporarily, then sent.
	b.smtp.Fail(
		smtptest.Fault{Stage: smtptest.AtMail, Code: 451, Enhanced: smtp.EnhancedCode{4, 7, 1}, Text: "greylisted, mail for " + says + "try later"},
		smtptest.Fault{Stage: smtptest.AtRcpt, Code: 451, Enhanced: smtp.EnhancedCode{4, 2, 0}, Text: says + "mailbox busy"},
		smtptest.Fault{Stage: smtptest.AtDot, Code: 451, Enhanced: smtp.EnhancedCode{4, 3, 0}, Text: "queue full for " + addr})
	b.send(b.event(basket.Updated, "b_p1", addr))
	b.smtp.WaitFor(t, 1, 20*time.Second)
	b.settle(10 * time.Second)

	// Basket 2: the relay refuses (the sender's problem) on every attempt:
	// retried, then archived as a failure; nobody suppressed.
	relay := smtptest.Fault{Stage: smtptest.AtRcpt, Code: 550, Enhanced: smtp.EnhancedCode{5, 7, 1}, Text: says + "Relay access denied"}
	b.smtp.Fail(relay, relay, relay, relay)
	b.send(b.event(basket.Updated, "b_p2", addr))
	insp := asynq.NewInspectorFromRedisClient(b.rdb)
	require.Eventually(t, func() bool {
		archived, err := insp.ListArchivedTasks(worker.QueueEmail)
		return err == nil && len(archived) == 1
	}, 15*time.Second, 20*time.Millisecond, "the policy rejection is retried, then archived as a failure")
	archived, err := insp.ListArchivedTasks(worker.QueueEmail)
	require.NoError(t, err)
	assert.Contains(t, archived[0].LastErr, "550 5.7.1", "ops see the codes")
	assert.Equal(t, false, b.check(addr, "basket_assistance")["suppressed"], "a relay refusal suppresses nobody")

	// Basket 3: a real bounce after DATA suppresses globally.
	b.smtp.Fail(smtptest.Fault{Stage: smtptest.AtDot, Code: 550, Enhanced: smtp.EnhancedCode{5, 1, 1}, Text: says + "no such user here"})
	b.send(b.event(basket.Updated, "b_p3", addr))
	require.Eventually(t, func() bool { return b.check(addr, "newsletter")["suppressed"] == true }, 15*time.Second, 20*time.Millisecond)
	b.settle(10 * time.Second)
	require.Len(t, b.smtp.Messages(), 1)

	assertNoAddress(t, b.rdb, addr)
	logs := b.logs.String()
	require.Contains(t, logs, `"smtp_code":451`, "the failures were logged, as codes")
	require.Contains(t, logs, `"smtp_status":"5.1.1"`)
	for _, needle := range []string{addr, "grey.secret", "@shop.test", "Relay access denied", "no such user"} {
		assert.NotContains(t, logs, needle, "no address or server text in the logs")
	}
	metrics := b.get(t, "/metrics", testAdminToken)
	assert.Contains(t, metrics, `basketassist_smtp_policy_rejections_total 4`, "every refusal counts, for the alert")
	assert.Contains(t, metrics, `basketassist_reminders_total{outcome="failed"} 1`)
	assert.Contains(t, metrics, `basketassist_reminders_total{outcome="bounced"} 1`)
	assert.Contains(t, metrics, `basketassist_reminders_total{outcome="sent"} 1`)
	assert.NotContains(t, metrics, "shop.test")
}

func TestAnyCustomerNameGetsItsEmail(t *testing.T) {
	t.Parallel()
	b := setup(t, realRedis)
	e := b.event(basket.Updated, "b_n", "quote@example.com")
	e.Customer.Name = `Ann "the \ buyer" O'Neil`
	b.send(e)
	msgs := b.smtp.WaitFor(t, 1, 15*time.Second)
	to, err := msgs[0].Parsed(t).Header.AddressList("To")
	require.NoError(t, err)
	assert.Equal(t, e.Customer.Name, to[0].Name)
	text, _ := parts(t, msgs[0])
	assert.True(t, strings.Contains(text, e.Customer.Name), "the greeting uses the name as given")
}

func TestOutcomesAreNotFailures(t *testing.T) {
	t.Parallel()
	b := setup(t, realRedis)
	b.smtp.Fail(smtptest.Fault{Stage: smtptest.AtRcpt, Code: 550, Enhanced: smtp.EnhancedCode{5, 1, 1}, Text: "no"},
		smtptest.Fault{Stage: smtptest.DropAt})
	b.send(b.event(basket.Updated, "b_o1", "bounce@example.com"), b.event(basket.Updated, "b_o2", "doubt@example.com"))
	require.Eventually(t, func() bool {
		return strings.Contains(b.get(t, "/metrics", testAdminToken), `basketassist_reminders_total{outcome="in_doubt"} 1`)
	}, 15*time.Second, 20*time.Millisecond)
	b.settle(10 * time.Second)
	insp := asynq.NewInspectorFromRedisClient(b.rdb)
	archived, err := insp.ListArchivedTasks(worker.QueueEmail)
	require.NoError(t, err)
	assert.Empty(t, archived, "a bounce and an in-doubt drop complete; they are not archived as failed")
	metrics := b.get(t, "/metrics", testAdminToken)
	assert.Contains(t, metrics, `basketassist_reminders_total{outcome="bounced"} 1`)
	assert.Contains(t, metrics, `asynq_tasks_failed_total{queue="email"} 0`)
}
