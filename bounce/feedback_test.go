package bounce

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/internal/providertest"
	"github.com/basketassist/basketassist/mail"
)

// SendGrid's published test vector (its Go library's eventwebhook tests):
// the verifier accepts it and refuses any change to body, timestamp or
// signature.
func TestSendGridPublishedVectorVerifies(t *testing.T) {
	const (
		key       = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA=="
		timestamp = "1588788367"
		signature = "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0="
		body      = `{"category":"example_payload","event":"test_event","message_id":"message_id"}`
	)
	pub, err := ParseSendGridKey(key)
	require.NoError(t, err)
	assert.NoError(t, VerifySendGrid(pub, signature, timestamp, []byte(body)))
	assert.ErrorIs(t, VerifySendGrid(pub, signature, timestamp, []byte(body+" ")), ErrSendGridSignature)
	assert.ErrorIs(t, VerifySendGrid(pub, signature, "1588788368", []byte(body)), ErrSendGridSignature)
	assert.ErrorIs(t, VerifySendGrid(pub, signature, "", []byte(body)), ErrSendGridSignature)
	assert.ErrorIs(t, VerifySendGrid(pub, "not base64!", timestamp, []byte(body)), ErrSendGridSignature)
	assert.ErrorIs(t, VerifySendGrid(pub, "MEUCIQ"+signature[6:], timestamp, []byte(body+"x")), ErrSendGridSignature)

	_, err = ParseSendGridKey("REPLACE with the key")
	assert.EqualError(t, err, "not base64 or PEM")
}

// The documented sample batch: only the bounce, the drop of a bounced
// address and the spam report are reports; a bounce with the vague 5.0.0
// is permanent by SendGrid's verdict unless it says "blocked".
func TestSendGridSampleEventsBecomeReports(t *testing.T) {
	body, err := os.ReadFile("testdata/sendgrid-events.json")
	require.NoError(t, err)
	reps, err := SendGridReports(body)
	require.NoError(t, err)
	require.Len(t, reps, 3)
	assert.Equal(t, DSN, reps[0].Kind)
	assert.Equal(t, []string{"5.0.0"}, reps[0].Statuses)
	assert.Equal(t, "<14c5d75ce93.dfd.64b469@ismtpd-555>", reps[0].MessageID)
	assert.Equal(t, []string{"example@test.com"}, reps[0].Recipients)
	assert.Equal(t, mail.HardBounce, reps[0].class("5.0.0"))
	assert.Equal(t, mail.HardBounce, reps[1].class(reps[1].Statuses[0]), "dropped: Bounced Address")
	assert.Equal(t, Complaint, reps[2].Kind)

	blocked, err := SendGridReports([]byte(`[{"event":"bounce","type":"blocked","status":"5.0.0","email":"a@b.example"},
		{"event":"bounce","type":"blocked","status":"5.7.1","email":"a@b.example"},
		{"event":"bounce","type":"bounce","status":"5.1.1","email":"a@b.example"}]`))
	require.NoError(t, err)
	assert.Equal(t, mail.Rejected, blocked[0].class("5.0.0"), "blocked and vague: the sender's problem")
	assert.Equal(t, mail.Rejected, blocked[1].class("5.7.1"), "the status wins over any verdict")
	assert.Equal(t, mail.HardBounce, blocked[2].class("5.1.1"))

	_, err = SendGridReports([]byte(`{"event":"bounce"}`))
	assert.ErrorContains(t, err, "not a SendGrid event batch")
}

func TestSESSamplesBecomeReports(t *testing.T) {
	b, err := os.ReadFile("testdata/ses-bounce.json")
	require.NoError(t, err)
	rep, err := SESReport(string(b))
	require.NoError(t, err)
	assert.Equal(t, &Report{Kind: DSN, Statuses: []string{"5.1.1"}, MessageID: "custom-message-ID",
		ReturnPath: "john@example.com", Recipients: []string{"jane@example.com"}, Permanent: true}, rep)

	c, err := os.ReadFile("testdata/ses-complaint.json")
	require.NoError(t, err)
	rep, err = SESReport(string(c))
	require.NoError(t, err)
	assert.Equal(t, &Report{Kind: Complaint, FeedbackType: "abuse", MessageID: "custom-message-ID",
		ReturnPath: "john@example.com", Recipients: []string{"richard@example.com"}}, rep)

	rep, err = SESReport(`{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bounceSubType":"NoEmail",
		"bouncedRecipients":[{"emailAddress":"x@y.example"}]},"mail":{"source":"b@c.example"}}`)
	require.NoError(t, err)
	assert.Equal(t, []string{"5.1.1"}, rep.Statuses, "a subtype stands for its status")

	rep, err = SESReport(`{"eventType":"Delivery","mail":{}}`)
	assert.NoError(t, err)
	assert.Nil(t, rep, "deliveries need nothing")
}

func TestSNSSignatureTopicAndCertificateURL(t *testing.T) {
	fake := providertest.NewSNS(t)
	sns := &SNS{TopicARNs: []string{providertest.Topic}, Client: fake.Client()}
	ctx := context.Background()
	parse := func(b []byte) *SNSMessage {
		m, err := ParseSNS(b)
		require.NoError(t, err)
		return m
	}

	good := parse(fake.Notification(providertest.Topic, `{"notificationType":"Bounce"}`))
	require.NoError(t, sns.Verify(ctx, good))

	forged := *good
	forged.Message = `{"notificationType":"Complaint"}`
	assert.ErrorIs(t, sns.Verify(ctx, &forged), ErrSNSSignature, "a changed message")

	other := parse(fake.Notification("arn:aws:sns:eu-west-1:999999999999:someone-elses", `{}`))
	assert.ErrorIs(t, sns.Verify(ctx, other), ErrSNSTopic, "well signed, but not our topic")

	for _, u := range []string{"http://sns.eu-west-1.amazonaws.com/x.pem", "https://sns.eu-west-1.amazonaws.com.evil.example/x.pem",
		"https://evil.example/sns.eu-west-1.amazonaws.com/x.pem", "https://sns.eu-west-1.amazonaws.com:8443/x.pem",
		"https://sns.eu-west-1.amazonaws.com/x.txt"} {
		bad := *good
		bad.SigningCertURL = u
		assert.ErrorIs(t, sns.Verify(ctx, &bad), ErrSNSCertURL, u)
	}

	var sub providertest.Message
	sub.Type, sub.MessageId, sub.Token, sub.TopicArn = "SubscriptionConfirmation", "165545c9", "2336412f37", providertest.Topic
	sub.Message, sub.Timestamp = "You have chosen to subscribe to the topic.", "2026-12-03T10:00:00.000Z"
	sub.SubscribeURL = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=" + providertest.Topic + "&Token=2336412f37"
	confirm := parse(fake.Sign(sub))
	require.NoError(t, sns.Verify(ctx, confirm))
	require.NoError(t, sns.Confirm(ctx, confirm))
	assert.Equal(t, []string{sub.SubscribeURL}, fake.Visits())

	tampered := *confirm
	tampered.SubscribeURL = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=other"
	assert.ErrorIs(t, sns.Verify(ctx, &tampered), ErrSNSSignature, "the subscribe URL is signed too")

	_, err := ParseSNS([]byte(`{"Type":"Something"}`))
	assert.ErrorContains(t, err, "not an SNS message")
	var raw map[string]any
	require.NoError(t, json.Unmarshal(fake.Notification(providertest.Topic, "x"), &raw))
	assert.True(t, strings.HasPrefix(raw["SigningCertURL"].(string), "https://sns."))
}
