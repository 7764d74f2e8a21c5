package basket

import (
	"bytes"
	"encoding/json"
)

// storedContents is how contents are kept in Redis: the event contract's
// field names shortened, which saves about a fifth of a pending basket's
// bytes. encodeContents and decodeContents are the one place that knows it.
type storedContents struct {
	Currency string       `json:"c"`
	Items    []storedItem `json:"i"`
}

type storedItem struct {
	SKU       string `json:"s"`
	Name      string `json:"n"`
	Quantity  int64  `json:"q"`
	UnitPrice int64  `json:"p"`
	URL       string `json:"u,omitempty"`
	ImageURL  string `json:"m,omitempty"`
}

func encodeContents(c *Contents) ([]byte, error) {
	s := storedContents{Currency: c.Currency, Items: make([]storedItem, len(c.Items))}
	for i, it := range c.Items {
		s.Items[i] = storedItem(it)
	}
	return json.Marshal(s)
}

// decodeContents reads stored contents; those written before the short
// names (the contract's own JSON) too.
func decodeContents(data []byte, c *Contents) error {
	if bytes.HasPrefix(data, []byte(`{"currency"`)) {
		return json.Unmarshal(data, c)
	}
	var s storedContents
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	*c = Contents{Currency: s.Currency, Items: make([]Item, len(s.Items))}
	for i, it := range s.Items {
		c.Items[i] = Item(it)
	}
	return nil
}
