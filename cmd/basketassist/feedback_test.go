package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/config"
	"github.com/basketassist/basketassist/internal/providertest"
	"github.com/basketassist/basketassist/internal/smtptest"
)

// sample reads a provider's documented sample payload and puts a real
// send's details where the sample has its placeholders.
func sample(t *testing.T, name string, replace ...string) string {
	t.Helper()
	b, err := os.ReadFile("../../bounce/testdata/" + name)
	require.NoError(t, err)
	return strings.NewReplacer(replace...).Replace(string(b))
}

func (b *bundle) post(path string, body []byte, header ...string) *http.Response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.baseURL+path, bytes.NewReader(body))
	require.NoError(b.t, err)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(b.t, err)
	resp.Body.Close()
	return resp
}

// sentOne sends one reminder to email and returns its return path and Message-ID.
func (b *bundle) sentOne(basketID, email string) (returnPath, messageID string) {
	b.t.Helper()
	b.send(b.event(basket.Updated, basketID, email))
	b.smtp.WaitFor(b.t, 1, 15*time.Second)
	b.settle(10 * time.Second)
	var msg *smtptest.Message
	for _, m := range b.smtp.Messages() {
		if m.To[0] == email {
			msg = &m
		}
	}
	if msg == nil {
		b.t.Logf("service logs:\n%s", b.logs.String())
	}
	require.NotNil(b.t, msg, "a reminder to %s", email)
	require.Equal(b.t, false, b.check(email, "basket_assistance")["suppressed"])
	return msg.From, msg.Parsed(b.t).Header.Get("Message-Id")
}

func suppressedFor(b *bundle, email string) string {
	by, _ := b.check(email, "newsletter")["by"].(map[string]any)
	reason, _ := by["reason"].(string)
	return reason
}

// Amazon SES through SNS: the documented bounce and complaint samples, as
// SNS signs them, suppress the send's recipient; the subscription is
// confirmed; a forged signature or a foreign topic is refused and
// suppresses nobody.
func TestSESFeedbackThroughSNS(t *testing.T) {
	t.Parallel()
	sns := providertest.NewSNS(t)
	b := setupMain(t, realRedis, func(m *Main) { m.HTTPClient = sns.Client() }, withBounces, func(c *config.Config) {
		c.Bounces.SES.TopicARNs = []string{providertest.Topic}
	})

	var sub providertest.Message
	sub.Type, sub.MessageId, sub.Token, sub.TopicArn = "SubscriptionConfirmation", "165545c9", "2336412f37", providertest.Topic
	sub.Message, sub.Timestamp = "You have chosen to subscribe to the topic.", "2026-12-03T10:00:00.000Z"
	sub.SubscribeURL = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=" + providertest.Topic + "&Token=2336412f37"
	assert.Equal(t, http.StatusOK, b.post("/v1/feedback/ses", sns.Sign(sub)).StatusCode)
	assert.Equal(t, []string{sub.SubscribeURL}, sns.Visits(), "subscription confirmed")

	rp, id := b.sentOne("b_ses1", "jane@example.com")
	bounceJSON := sample(t, "ses-bounce.json", "john@example.com", rp, "custom-message-ID", id)
	forged := sns.Notification(providertest.Topic, bounceJSON)
	forged = bytes.Replace(forged, []byte(`"Signature":"`), []byte(`"Signature":"AAAA`), 1)
	assert.Equal(t, http.StatusForbidden, b.post("/v1/feedback/ses", forged).StatusCode)
	foreign := sns.Notification("arn:aws:sns:eu-west-1:999999999999:not-ours", bounceJSON)
	assert.Equal(t, http.StatusForbidden, b.post("/v1/feedback/ses", foreign).StatusCode)
	assert.Equal(t, "", suppressedFor(b, "jane@example.com"), "nothing refused was believed")

	assert.Equal(t, http.StatusOK, b.post("/v1/feedback/ses", sns.Notification(providertest.Topic, bounceJSON)).StatusCode)
	assert.Equal(t, "hard_bounce", suppressedFor(b, "jane@example.com"))

	_, id = b.sentOne("b_ses2", "richard@example.com")
	complaint := sample(t, "ses-complaint.json", "custom-message-ID", id) // found by Message-ID alone
	assert.Equal(t, http.StatusOK, b.post("/v1/feedback/ses", sns.Notification(providertest.Topic, complaint)).StatusCode)
	assert.Equal(t, "complaint", suppressedFor(b, "richard@example.com"))

	logs := b.logs.String()
	assert.Contains(t, logs, "SNS subscription confirmed")
	assert.Contains(t, logs, `"why":"SNS signature does not verify"`)
	assert.Contains(t, logs, `"why":"SNS topic is not in bounces.ses.topic_arns"`)
	assert.NotContains(t, logs, "jane@example.com")
	assert.NotContains(t, logs, "2336412f37", "the subscribe token is not for logs")
	assertNoAddress(t, b.rdb, "jane@example.com")
}

// SendGrid's signed event webhook: the documented sample batch, signed with
// a generated key, suppresses on its bounce; a spam report suppresses as
// complaint; an unsigned or wrongly signed batch is refused.
func TestSendGridFeedback(t *testing.T) {
	t.Parallel()
	sg := providertest.NewSendGrid(t)
	b := setup(t, realRedis, func(c *config.Config) { c.Bounces.SendGrid.VerificationKey = sg.VerificationKey() })

	_, id := b.sentOne("b_sg1", "example@test.com")
	var events []map[string]any
	require.NoError(t, json.Unmarshal([]byte(sample(t, "sendgrid-events.json", "<14c5d75ce93.dfd.64b469@ismtpd-555>", id)), &events))
	var delivery, spam []map[string]any
	for _, e := range events {
		if e["event"] == "spamreport" {
			spam = append(spam, e)
		} else if e["event"] != "dropped" {
			delivery = append(delivery, e) // processed … bounce … unsubscribe
		}
	}
	body, _ := json.Marshal(delivery)

	assert.Equal(t, http.StatusForbidden, b.post("/v1/feedback/sendgrid", body).StatusCode, "unsigned")
	sig, ts := sg.Sign(body)
	assert.Equal(t, http.StatusForbidden, b.post("/v1/feedback/sendgrid", append(body, ' '),
		"X-Twilio-Email-Event-Webhook-Signature", sig, "X-Twilio-Email-Event-Webhook-Timestamp", ts).StatusCode, "changed body")
	assert.Equal(t, "", suppressedFor(b, "example@test.com"))

	assert.Equal(t, http.StatusOK, b.post("/v1/feedback/sendgrid", body,
		"X-Twilio-Email-Event-Webhook-Signature", sig, "X-Twilio-Email-Event-Webhook-Timestamp", ts).StatusCode)
	assert.Equal(t, "hard_bounce", suppressedFor(b, "example@test.com"), "bounce 5.0.0 with SendGrid's permanent verdict")

	_, id2 := b.sentOne("b_sg2", "spam@test.example")
	spam[0]["email"], spam[0]["smtp-id"] = "spam@test.example", id2
	body, _ = json.Marshal(spam)
	sig, ts = sg.Sign(body)
	assert.Equal(t, http.StatusOK, b.post("/v1/feedback/sendgrid", body,
		"X-Twilio-Email-Event-Webhook-Signature", sig, "X-Twilio-Email-Event-Webhook-Timestamp", ts).StatusCode)
	assert.Equal(t, "complaint", suppressedFor(b, "spam@test.example"))

	// A report naming another address than the send's suppresses nobody.
	_, id3 := b.sentOne("b_sg3", "kept@test.example")
	body, _ = json.Marshal([]map[string]any{{"event": "bounce", "status": "5.1.1", "email": "other@test.example", "smtp-id": id3}})
	sig, ts = sg.Sign(body)
	assert.Equal(t, http.StatusOK, b.post("/v1/feedback/sendgrid", body,
		"X-Twilio-Email-Event-Webhook-Signature", sig, "X-Twilio-Email-Event-Webhook-Timestamp", ts).StatusCode)
	assert.Equal(t, "", suppressedFor(b, "kept@test.example"))
	assert.Equal(t, "", suppressedFor(b, "other@test.example"))

	metrics := b.get(t, "/metrics", testAdminToken)
	assert.Contains(t, metrics, `basketassist_bounce_reports_total{kind="dsn",outcome="hard_bounce",source="sendgrid"} 1`)
	assert.Contains(t, metrics, `basketassist_bounce_reports_total{kind="dsn",outcome="unmatched",source="sendgrid"} 1`)
	assert.Contains(t, metrics, `basketassist_complaints_total{storefront="pink"} 1`)
	assert.NotContains(t, b.logs.String(), "example@test.com")
}

// Without configuration the webhook routes do not exist.
func TestFeedbackRoutesAreOffUnlessConfigured(t *testing.T) {
	t.Parallel()
	b := setup(t, realRedis)
	assert.Equal(t, http.StatusNotFound, b.post("/v1/feedback/ses", []byte(`{}`)).StatusCode)
	assert.Equal(t, http.StatusNotFound, b.post("/v1/feedback/sendgrid", []byte(`[]`)).StatusCode)
}
