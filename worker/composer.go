package worker

import (
	"fmt"
	netmail "net/mail"
	"strings"
	"time"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/bounce"
	"github.com/basketassist/basketassist/mail"
	"github.com/basketassist/basketassist/secrets"
	"github.com/basketassist/basketassist/suppression"
	"github.com/basketassist/basketassist/templates"
)

// Composer turns a basket and a step into a Message: links with signed
// tokens, the rendered templates, and the headers that mailbox providers
// expect. The worker and the preview command share it, so a preview is
// exactly what would be sent.
type Composer struct {
	Tokens    *suppression.Tokens
	Keys      *secrets.Keys // signs return-path tokens (storefronts with a bounce domain)
	Renderer  *templates.Renderer
	PublicURL string           // base of the links, without a trailing slash
	Now       func() time.Time // the Date header; nil means time.Now
}

// Compose builds step of basket b for storefront sf, to be sent to the
// basket's customer, whose keyed hash is rcpt.
func (c *Composer) Compose(sf basket.Storefront, b basket.Basket, step int, rcpt secrets.Recipient) (*mail.Message, error) {
	cust := b.Customer
	locale := cust.Locale
	if locale == "" {
		locale = sf.DefaultLocale
	}
	base := strings.TrimRight(c.PublicURL, "/")
	sender := sf.Sender()
	tok := c.Tokens.Encode(suppression.Token{Scope: suppression.BasketAssistance, Storefront: sf.ID,
		Recipient: rcpt, Masked: secrets.MaskAddress(cust.Email), BasketID: b.ID, Step: step, Locale: locale})
	data := templates.Email{
		Step: step, Locale: locale, StorefrontName: sf.Name, CustomerName: cust.Name,
		Total:          templates.FormatMoney(b.Contents.Total(), b.Contents.Currency, locale),
		BasketURL:      base + "/r/" + tok,
		UnsubscribeURL: base + "/u/" + tok,
		PreferencesURL: base + "/p/" + tok,
		HelpAddress:    sender.Help,
		PostalAddress:  sf.PostalAddress,
	}
	for _, it := range b.Contents.Items {
		data.Lines = append(data.Lines, templates.Line{Name: it.Name, Quantity: it.Quantity,
			UnitPrice: templates.FormatMoney(it.UnitPrice, b.Contents.Currency, locale),
			Total:     templates.FormatMoney(it.UnitPrice*it.Quantity, b.Contents.Currency, locale),
			URL:       it.URL, ImageURL: it.ImageURL})
	}
	r, err := c.Renderer.Email(sf.ID, sf.DefaultLocale, data)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	domain := sender.Domain
	returnPath := ""
	if sf.BounceDomain != "" {
		returnPath = bounce.ReturnPath(c.Keys, basket.SendKey(sf.ID, b.ID), step, sf.BounceDomain)
	}
	return &mail.Message{
		ReturnPath: returnPath,
		From:       sender.From, To: &netmail.Address{Name: cust.Name, Address: cust.Email},
		Subject: r.Subject, Text: r.Text, HTML: r.HTML, Date: now(), Lang: r.Lang,
		MessageID:   bounce.MessageID(c.Keys, basket.SendKey(sf.ID, b.ID), step, domain),
		ListID:      fmt.Sprintf("%s basket assistance <basket-assistance.%s.%s>", sf.Name, sf.ID, domain),
		Unsubscribe: data.UnsubscribeURL,
	}, nil
}
