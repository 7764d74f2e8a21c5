// Package basket defines the storefront event contract (v1), keeps each
// basket's state in Redis with customer fields sealed, and provides the Go
// Client that storefronts use to send events.
package basket

import (
	"encoding/json"
	"time"

	"github.com/basketassist/basketassist/policy"
)

// Type is the kind of an event.
type Type string

// The event types of contract v1.
const (
	Updated         Type = "basket.updated"
	CheckoutStarted Type = "checkout.started"
	OrderCompleted  Type = "order.completed"
	Cleared         Type = "basket.cleared"
)

func (t Type) valid() bool {
	switch t {
	case Updated, CheckoutStarted, OrderCompleted, Cleared:
		return true
	}
	return false
}

// Event is one storefront event, as sent in JSON to POST /v1/events.
type Event struct {
	// ID is unique per storefront; a repeat within the event retention
	// (7 days by default) is ignored.
	ID         string    `json:"id"`
	Type       Type      `json:"type"`
	Storefront string    `json:"storefront"`
	BasketID   string    `json:"basket_id"`
	OccurredAt time.Time `json:"occurred_at"`
	// Customer is nil until the shopper gives an address. When present it
	// replaces what was known before, so send the whole customer each time.
	Customer *Customer `json:"customer,omitempty"`
	// Basket is the whole basket as it is now (a snapshot, not a delta).
	Basket *Contents `json:"basket,omitempty"`
	// Order is set on order.completed only.
	Order *Order `json:"order,omitempty"`
}

// Customer is the shopper, as far as the storefront knows them.
type Customer struct {
	Email    string  `json:"email,omitempty"`
	Name     string  `json:"name,omitempty"`
	Locale   string  `json:"locale,omitempty"`
	Timezone string  `json:"timezone,omitempty"`
	Consent  Consent `json:"consent"`
	// Under16 means never emailed, whatever the consent: under-16s need a
	// parent's consent, which a storefront cannot record here.
	Under16 bool `json:"under_16,omitempty"`
}

// Consent records what the shopper agreed to. Stated tells an explicit
// "basket_assistance": false (refused) from a missing flag (not asked),
// which policy.consent soft_opt_in treats differently; true is consent
// either way.
type Consent struct {
	BasketAssistance bool `json:"basket_assistance"`
	Stated           bool `json:"-"` // the flag was present in the JSON
}

// State is the consent as policy sees it.
func (c Consent) State() policy.Consent {
	switch {
	case c.BasketAssistance:
		return policy.ConsentGiven
	case c.Stated:
		return policy.ConsentRefused
	}
	return policy.ConsentAbsent
}

// MarshalJSON writes the flag when it was given or stated, so that an
// absent flag stays absent through sealing.
func (c Consent) MarshalJSON() ([]byte, error) {
	if !c.BasketAssistance && !c.Stated {
		return []byte("{}"), nil
	}
	return json.Marshal(map[string]bool{"basket_assistance": c.BasketAssistance})
}

// UnmarshalJSON notes whether the flag was present.
func (c *Consent) UnmarshalJSON(b []byte) error {
	var raw struct {
		BasketAssistance *bool `json:"basket_assistance"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*c = Consent{Stated: raw.BasketAssistance != nil}
	if raw.BasketAssistance != nil {
		c.BasketAssistance = *raw.BasketAssistance
	}
	return nil
}

// Contents is what is in the basket. Prices are integers in minor units of
// Currency (pence for GBP, yen for JPY).
type Contents struct {
	Currency string `json:"currency"`
	Items    []Item `json:"items"`
}

// Item is one basket line.
type Item struct {
	SKU       string `json:"sku"`
	Name      string `json:"name"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unit_price"`
	URL       string `json:"url,omitempty"`
	ImageURL  string `json:"image_url,omitempty"`
}

// Total returns the sum of quantity × unit price, in minor units.
func (c *Contents) Total() int64 {
	var total int64
	for _, it := range c.Items {
		total += it.Quantity * it.UnitPrice
	}
	return total
}

// Order is the purchase that completed a basket.
type Order struct {
	ID    string `json:"id"`
	Total int64  `json:"total"`
}
