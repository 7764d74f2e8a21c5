package bounce

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/mail"
)

// dsnWithStatus is a DSN whose one failed recipient has status as its
// Status field.
func dsnWithStatus(status string) string {
	return "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n" +
		"Final-Recipient: rfc822;a@x.example\r\nAction: failed\r\nStatus: " + status + "\r\n\r\n--b--\r\n"
}

// arfWith is an ARF report whose feedback-report part is part ("" for none).
func arfWith(part string) string {
	s := "Content-Type: multipart/report; report-type=feedback-report; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nan abuse report\r\n"
	if part != "" {
		s += "--b\r\nContent-Type: message/feedback-report\r\n\r\n" + part + "\r\n"
	}
	return s + "--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <m@x>\r\n\r\n--b--\r\n"
}

// Only codes leave a report: a Status or a feedback type that is not one
// (here, one carrying an address) is reduced before anything logs it.
func TestReportsKeepOnlyCodesAndRegisteredFeedbackTypes(t *testing.T) {
	t.Parallel()
	for status, want := range map[string]string{
		"5.1.1":                     "5.1.1",
		"5.1.1 (bad mailbox)":       "5.1.1",
		"4.2.2":                     "4.2.2",
		"5.ann@example.com":         "",
		"ann@example.com":           "",
		"5.1.1ann@example.com":      "",
		"smtp; 550 ann@example.com": "",
	} {
		rep, err := Parse(strings.NewReader(dsnWithStatus(status)))
		require.NoError(t, err, status)
		assert.Equal(t, []string{want}, rep.Statuses, status)
	}

	rep, err := Parse(strings.NewReader(arfWith("Feedback-Type: Abuse\r\nVersion: 1\r\n")))
	require.NoError(t, err)
	assert.Equal(t, "abuse", rep.FeedbackType)
	rep, err = Parse(strings.NewReader(arfWith("Feedback-Type: ann@example.com\r\nVersion: 1\r\n")))
	require.NoError(t, err)
	assert.Equal(t, "other", rep.FeedbackType, "an unregistered type is other, and no complaint")
	_, err = Parse(strings.NewReader(arfWith("")))
	assert.ErrorIs(t, err, ErrNotAReport, "no feedback-report part: nothing says it is a complaint")
	_, err = Parse(strings.NewReader(arfWith("Version: 1\r\n")))
	assert.ErrorIs(t, err, ErrNotAReport, "no Feedback-Type")

	rep, err = SESReport(`{"notificationType":"Complaint","complaint":{"complaintFeedbackType":"ann@example.com",
		"complainedRecipients":[{"emailAddress":"ann@example.com"}]},"mail":{}}`)
	require.NoError(t, err)
	assert.Equal(t, "other", rep.FeedbackType)
	rep, err = SESReport(`{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bounceSubType":"General",
		"bouncedRecipients":[{"emailAddress":"a@b.example","status":"5.ann@example.com"}]},"mail":{}}`)
	require.NoError(t, err)
	assert.Equal(t, []string{""}, rep.Statuses)
	reps, err := SendGridReports([]byte(`[{"event":"bounce","type":"bounce","status":"ann@example.com","email":"a@b.example"}]`))
	require.NoError(t, err)
	assert.Equal(t, []string{""}, reps[0].Statuses)
}

// A bounce about the message (too large, its content or an attachment
// refused) never suppresses the recipient, whatever SES calls its type.
func TestSESBouncesAboutTheMessageSuppressNobody(t *testing.T) {
	t.Parallel()
	for _, subtype := range []string{"ContentRejected", "AttachmentRejected", "MessageTooLarge"} {
		rep, err := SESReport(`{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bounceSubType":"` + subtype + `",
			"bouncedRecipients":[{"emailAddress":"a@b.example"}]},"mail":{}}`)
		require.NoError(t, err)
		assert.Equal(t, mail.Rejected, rep.class(rep.Statuses[0]), subtype)
	}
	rep, err := SESReport(`{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bounceSubType":"General",
		"bouncedRecipients":[{"emailAddress":"a@b.example"}]},"mail":{}}`)
	require.NoError(t, err)
	assert.Equal(t, mail.HardBounce, rep.class(rep.Statuses[0]), "a permanent bounce without a status is still hard")
}
