package basket

import (
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/basketassist/basketassist/policy"
)

// Storefront is a shop that sends events and on whose behalf reminders go out.
type Storefront struct {
	ID            string
	Name          string
	From          string // "Pink Shirts <hello@pink.example>"
	BasketURL     string // with "{basket_id}" where the basket id goes
	PostalAddress string
	DefaultLocale string
	// Contact is where shoppers get help (an address or a URL); "" means the From address.
	Contact string
	// BounceDomain, if set, is where bounces of this storefront's reminders
	// go: the envelope sender is b-<token>@BounceDomain (bounce.ReturnPath).
	BounceDomain string
	// Location is the storefront's time zone, for the quiet hours of
	// customers who gave none; nil is UTC.
	Location *time.Location
	// Policy decides what is sent when (policy.Decide).
	Policy policy.Policy
}

// HelpContact returns Contact, or the From address when none is set.
func (s Storefront) HelpContact() string { return s.Sender().Help }

// BasketLink returns the storefront's URL for basketID.
func (s Storefront) BasketLink(basketID string) string {
	return strings.ReplaceAll(s.BasketURL, "{basket_id}", url.PathEscape(basketID))
}

// FromAddress parses From. Config validation guarantees it parses.
func (s Storefront) FromAddress() *mail.Address {
	a, err := mail.ParseAddress(s.From)
	if err != nil {
		return &mail.Address{Address: s.From}
	}
	return a
}

// FromDomain returns the domain of the From address, used for Message-ID and List-Id.
func (s Storefront) FromDomain() string { return s.Sender().Domain }

// Sender is what an email says of who sends it, from one parse of From.
type Sender struct {
	From   *mail.Address
	Domain string // From's domain, lower case
	Help   string // where customers write with questions: Contact, else From's address
}

// Sender parses From once for everything an email takes from it.
func (s Storefront) Sender() Sender {
	from := s.FromAddress()
	a := from.Address
	help := s.Contact
	if help == "" {
		help = a
	}
	return Sender{From: from, Domain: strings.ToLower(a[strings.LastIndexByte(a, '@')+1:]), Help: help}
}
