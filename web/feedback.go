package web

import (
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/basketassist/basketassist/bounce"
)

// Provider webhooks: bounces and complaints that an ESP heard, mapped to
// their sends the same way as the inbound listener's reports. The body is
// verified before anything in it is believed, and never logged: it names
// the recipient.

// sesFeedback serves POST /v1/feedback/ses: Amazon SES notifications
// delivered by SNS.
func (s *Server) sesFeedback(w http.ResponseWriter, r *http.Request) {
	body, ok := s.feedbackBody(w, r)
	if !ok {
		return
	}
	log := s.opts.Logger.With("source", bounce.SourceSES)
	msg, err := bounce.ParseSNS(body)
	if err != nil {
		s.Feedback.Unparsed(bounce.SourceSES)
		writeError(w, http.StatusBadRequest, "body: not an Amazon SNS message (Type Notification or SubscriptionConfirmation)")
		return
	}
	if err := s.opts.SNS.Verify(r.Context(), msg); err != nil {
		log.Warn("SNS message refused", "why", snsRefusal(err))
		writeError(w, http.StatusForbidden, snsRefusal(err))
		return
	}
	log = log.With("topic", msg.TopicArn)
	switch msg.Type {
	case "SubscriptionConfirmation":
		if err := s.opts.SNS.Confirm(r.Context(), msg); err != nil {
			log.Error("SNS subscription not confirmed", "why", snsRefusal(err))
			writeError(w, http.StatusBadGateway, "could not confirm the subscription at SubscribeURL")
			return
		}
		log.Info("SNS subscription confirmed")
	case "UnsubscribeConfirmation":
		log.Warn("SNS topic unsubscribed this endpoint: SES feedback will no longer arrive")
	default:
		rep, err := bounce.SESReport(msg.Message)
		if err != nil {
			s.Feedback.Unparsed(bounce.SourceSES)
			log.Info("SNS notification is not an SES notification; ignored")
		} else if rep != nil && s.Feedback.Apply(r.Context(), bounce.SourceSES, nil, rep) == bounce.OutcomeError {
			writeError(w, http.StatusServiceUnavailable, "not applied; retry") // SNS retries
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// snsRefusal names why an SNS message was refused in fixed words.
func snsRefusal(err error) string {
	switch {
	case errors.Is(err, bounce.ErrSNSTopic):
		return bounce.ErrSNSTopic.Error()
	case errors.Is(err, bounce.ErrSNSCertURL):
		return bounce.ErrSNSCertURL.Error()
	case errors.Is(err, bounce.ErrSNSSignature):
		return bounce.ErrSNSSignature.Error()
	}
	return "SNS signing certificate could not be fetched"
}

// sendGridFeedback serves POST /v1/feedback/sendgrid: SendGrid's signed
// event webhook.
func (s *Server) sendGridFeedback(w http.ResponseWriter, r *http.Request) {
	body, ok := s.feedbackBody(w, r)
	if !ok {
		return
	}
	err := bounce.VerifySendGrid(s.opts.SendGridKey, r.Header.Get(bounce.SendGridSignatureHeader),
		r.Header.Get(bounce.SendGridTimestampHeader), body)
	if err != nil {
		s.opts.Logger.Warn("SendGrid webhook refused", "source", bounce.SourceSendGrid, "why", err.Error())
		writeError(w, http.StatusForbidden, err.Error()+" (bounces.sendgrid.verification_key)")
		return
	}
	reps, err := bounce.SendGridReports(body)
	if err != nil {
		s.Feedback.Unparsed(bounce.SourceSendGrid)
		writeError(w, http.StatusBadRequest, "body: not a JSON array of SendGrid events")
		return
	}
	failed := false
	for _, rep := range reps {
		failed = s.Feedback.Apply(r.Context(), bounce.SourceSendGrid, nil, rep) == bounce.OutcomeError || failed
	}
	if failed {
		writeError(w, http.StatusServiceUnavailable, "not all events applied; retry") // SendGrid retries; applying twice is harmless
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// feedbackBody reads a webhook body up to the size limit.
func (s *Server) feedbackBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.FeedbackMaxBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		s.opts.Logger.LogAttrs(r.Context(), slog.LevelWarn, "feedback webhook body over the size limit",
			slog.Int64("max_bytes", s.opts.FeedbackMaxBytes))
		writeError(w, http.StatusRequestEntityTooLarge, "body: larger than bounces.max_message_bytes")
		return nil, false
	case err != nil:
		writeError(w, http.StatusBadRequest, "body: could not be read")
		return nil, false
	}
	return body, true
}
