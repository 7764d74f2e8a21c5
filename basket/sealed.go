package basket

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/basketassist/basketassist/policy"
	"github.com/basketassist/basketassist/secrets"
)

// Sealed is an Event with its customer encrypted: the form that travels in
// task payloads and is stored in Redis. It holds no plaintext address.
type Sealed struct {
	ID         string    `json:"id"`
	Type       Type      `json:"type"`
	Storefront string    `json:"storefront"`
	BasketID   string    `json:"basket_id"`
	OccurredAt time.Time `json:"occurred_at"`
	// Customer is the AES-GCM sealed JSON of the Customer, bound to the basket; nil when absent.
	Customer []byte `json:"customer,omitempty"`
	// HasEmail and Consent are the only customer facts kept in the clear:
	// the scheduler needs them and they identify no one.
	HasEmail bool `json:"has_email,omitempty"`
	Consent  bool `json:"consent,omitempty"`
	// Refused is an explicit "no" to basket emails: never scheduled.
	Refused bool `json:"refused,omitempty"`
	// Recipient is the keyed hash of the customer's address ("" without
	// one): it files the basket under the person for forget and export.
	Recipient string    `json:"recipient,omitempty"`
	Basket    *Contents `json:"basket,omitempty"`
	Order     *Order    `json:"order,omitempty"`
}

// sealContext binds a sealed customer to its basket, so that it cannot be
// replayed into another basket's state.
func sealContext(storefront, basketID string) string {
	return "customer/" + storefront + "/" + basketID
}

// Seal encrypts the customer of e.
func Seal(keys *secrets.Keys, e Event) (Sealed, error) {
	s := Sealed{ID: e.ID, Type: e.Type, Storefront: e.Storefront, BasketID: e.BasketID,
		OccurredAt: e.OccurredAt, Basket: e.Basket, Order: e.Order}
	if e.Customer != nil {
		plain, err := json.Marshal(e.Customer)
		if err != nil {
			return Sealed{}, fmt.Errorf("seal customer of basket %s: %w", e.BasketID, err)
		}
		s.Customer = keys.Seal(plain, sealContext(e.Storefront, e.BasketID))
		s.HasEmail = e.Customer.Email != ""
		s.Consent = e.Customer.Consent.BasketAssistance
		s.Refused = e.Customer.Consent.State() == policy.ConsentRefused
		if s.HasEmail {
			s.Recipient = keys.Recipient(e.Customer.Email).String()
		}
	}
	return s, nil
}

func openCustomer(keys *secrets.Keys, storefront, basketID string, sealed []byte) (*Customer, error) {
	plain, err := keys.Open(sealed, sealContext(storefront, basketID))
	if err != nil {
		return nil, fmt.Errorf("open customer of basket %s: %w", basketID, err)
	}
	var c Customer
	if err := json.Unmarshal(plain, &c); err != nil {
		return nil, fmt.Errorf("decode customer of basket %s: %w", basketID, err)
	}
	return &c, nil
}
