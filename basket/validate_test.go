package basket

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func testValidator() Validator {
	return Validator{Storefronts: func(id string) bool { return id == "pink" }, Now: func() time.Time { return testNow }}
}

const validEvent = `{
  "id": "evt_1", "type": "basket.updated", "storefront": "pink", "basket_id": "b_42",
  "occurred_at": "2026-11-22T10:00:00Z",
  "customer": {"email": "ann@example.com", "name": "Ann", "locale": "en-GB", "timezone": "Europe/London",
               "consent": {"basket_assistance": true}},
  "basket": {"currency": "GBP", "items": [{"sku": "S-1", "name": "Oxford shirt", "quantity": 2, "unit_price": 8900,
             "url": "https://pink.example/p/s-1", "image_url": "https://pink.example/i/s-1.jpg"}]}
}`

func TestDecodeValidEvent(t *testing.T) {
	t.Parallel()
	e, err := testValidator().Decode([]byte(validEvent))
	require.NoError(t, err)
	assert.Equal(t, Updated, e.Type)
	assert.Equal(t, "b_42", e.BasketID)
	assert.Equal(t, time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), e.OccurredAt)
	assert.Equal(t, "ann@example.com", e.Customer.Email)
	assert.True(t, e.Customer.Consent.BasketAssistance)
	assert.Equal(t, int64(17800), e.Basket.Total())
}

func TestDecodeNamesTheBadField(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, from, to, field, msg string
	}{
		{"unknown type", `"type": "basket.updated"`, `"type": "basket.exploded"`, "type", "unknown type"},
		{"missing basket_id", `"basket_id": "b_42",`, ``, "basket_id", "is required"},
		{"basket_id with braces", `"basket_id": "b_42"`, `"basket_id": "b{42}"`, "basket_id", "A-Z"},
		{"malformed address", `"email": "ann@example.com"`, `"email": "ann at example"`, "customer.email", "not a valid address"},
		{"address with a name", `"email": "ann@example.com"`, `"email": "Ann <ann@example.com>"`, "customer.email", "bare address"},
		{"fractional money", `"unit_price": 8900`, `"unit_price": 89.5`, "basket.items[0].unit_price", "whole number"},
		{"negative money", `"unit_price": 8900`, `"unit_price": -1`, "basket.items[0].unit_price", "must not be negative"},
		{"money as string", `"unit_price": 8900`, `"unit_price": "8900"`, "basket.items[0].unit_price", "not a string"},
		{"zero quantity", `"quantity": 2`, `"quantity": 0`, "basket.items[0].quantity", "at least 1"},
		{"unknown storefront", `"storefront": "pink"`, `"storefront": "blue"`, "storefront", `unknown storefront "blue"`},
		{"unknown currency", `"currency": "GBP"`, `"currency": "ABC"`, "basket.currency", "unknown currency"},
		{"lower-case currency", `"currency": "GBP"`, `"currency": "gbp"`, "basket.currency", "unknown currency"},
		{"bad time", `"occurred_at": "2026-11-22T10:00:00Z"`, `"occurred_at": "22/11/2026"`, "occurred_at", "RFC 3339"},
		{"future time", `"occurred_at": "2026-11-22T10:00:00Z"`, `"occurred_at": "2026-11-22T13:00:00Z"`, "occurred_at", "future"},
		{"bad locale", `"locale": "en-GB"`, `"locale": "english!"`, "customer.locale", "BCP 47"},
		{"bad timezone", `"timezone": "Europe/London"`, `"timezone": "Mars/Base"`, "customer.timezone", "IANA"},
		{"bad item url", `"url": "https://pink.example/p/s-1"`, `"url": "javascript:alert(1)"`, "basket.items[0].url", "http(s)"},
		{"unknown field", `"basket_id": "b_42",`, `"basket_id": "b_42", "colour": "pink",`, "colour", "unknown field"},
		{"order on an update", `"basket_id": "b_42",`, `"basket_id": "b_42", "order": {"id": "o", "total": 1},`, "order", "only allowed"},
		{"line break in a name", `"name": "Ann"`, `"name": "Ann\r\nBcc: x@evil.example"`, "customer.name", "control characters (found U+000D)"},
		{"tab in an item name", `"name": "Oxford shirt"`, `"name": "Oxford\tshirt"`, "basket.items[0].name", "control characters"},
		{"total past the largest amount", `"quantity": 2, "unit_price": 8900`, `"quantity": 1000000, "unit_price": 1000000000000`, "basket.items", "total exceeds"},
		{"consent without email", `"email": "ann@example.com", `, ``, "customer.email", "required when consent"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			require.Contains(t, validEvent, c.from, "test case edits text that exists")
			_, err := testValidator().Decode([]byte(strings.Replace(validEvent, c.from, c.to, 1)))
			var invalid Invalid
			require.True(t, errors.As(err, &invalid), "want Invalid, got %v", err)
			found := false
			for _, fe := range invalid {
				if fe.Field == c.field {
					found = true
					assert.Contains(t, fe.Message, c.msg)
				}
			}
			assert.True(t, found, "no problem named %s in %v", c.field, invalid)
		})
	}
}

func TestDecodeListsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := testValidator().Decode([]byte(`{"type": "nope", "storefront": "blue", "occurred_at": "x"}`))
	var invalid Invalid
	require.ErrorAs(t, err, &invalid)
	var fields []string
	for _, fe := range invalid {
		fields = append(fields, fe.Field)
	}
	assert.ElementsMatch(t, []string{"id", "type", "storefront", "basket_id", "occurred_at"}, fields)
}

// Unknown fields and values of the wrong kind are named by their path, all
// of them, together with what else is wrong: the strict decoder alone stops
// at the first and names an unknown field without its path.
func TestDecodeListsEveryProblemOfShapeToo(t *testing.T) {
	t.Parallel()
	event := strings.NewReplacer(
		`"id": "evt_1"`, `"id": "", "size": 3`,
		`"type": "basket.updated"`, `"type": "nope"`,
		`"email": "ann@example.com"`, `"emial": "ann@example.com", "email": 7`,
		`"sku": "S-1"`, `"sku": "S-1", "colour": "red"`,
		`"quantity": 2`, `"quantity": 0`,
	).Replace(validEvent)
	_, err := testValidator().Decode([]byte(event))
	var invalid Invalid
	require.ErrorAs(t, err, &invalid)
	got := map[string]string{}
	for _, p := range invalid {
		got[p.Field] = p.Message
	}
	assert.Equal(t, map[string]string{
		"size":                     "unknown field (contract v1)",
		"customer.emial":           "unknown field (contract v1)",
		"customer.email":           "must be a string, got number",
		"basket.items[0].colour":   "unknown field (contract v1)",
		"id":                       "is required",
		"type":                     got["type"],
		"basket.items[0].quantity": got["basket.items[0].quantity"],
	}, got, "every problem, once: %v", invalid)
	assert.Contains(t, got["type"], "unknown type")
	assert.Contains(t, got["basket.items[0].quantity"], "at least 1")
	assert.NotContains(t, err.Error(), "ann@example.com")

	// consent decodes itself, and extra keys in it stay accepted as before.
	_, err = testValidator().Decode([]byte(strings.Replace(validEvent, `{"basket_assistance": true}`, `{"basket_assistance": true, "newsletter": true}`, 1)))
	assert.NoError(t, err)
	bad := strings.NewReplacer(`"name": "Ann",`, `"name": "Ann", "nick": "A",`,
		`{"basket_assistance": true}`, `{"basket_assistance": "yes"}`).Replace(validEvent)
	_, err = testValidator().Decode([]byte(bad))
	require.ErrorAs(t, err, &invalid)
	got = map[string]string{}
	for _, p := range invalid {
		got[p.Field] = p.Message
	}
	assert.Contains(t, got, "customer.nick")
	assert.Len(t, got, 2, "the unknown field and consent's own refusal: %v", invalid)
}

func TestErrorsNeverEchoTheAddress(t *testing.T) {
	t.Parallel()
	_, err := testValidator().Decode([]byte(strings.Replace(validEvent, `"ann@example.com"`, `"zed@@example.com"`, 1)))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "zed")
}

func TestOrderCompletedMayCarryOrder(t *testing.T) {
	t.Parallel()
	_, err := testValidator().Decode([]byte(`{"id":"e2","type":"order.completed","storefront":"pink","basket_id":"b_42",
		"occurred_at":"2026-11-22T10:05:00Z","order":{"id":"o_9","total":8900}}`))
	require.NoError(t, err)
	_, err = testValidator().Decode([]byte(`{"id":"e2","type":"order.completed","storefront":"pink","basket_id":"b_42",
		"occurred_at":"2026-11-22T10:05:00Z","order":{"id":"o_9","total":89.00}}`))
	assert.ErrorContains(t, err, "order.total: must be a whole number")
}

// An event older than retention.basket is refused: its basket would be gone.
func TestDecodeRefusesEventsOlderThanRetention(t *testing.T) {
	v := Validator{Storefronts: func(id string) bool { return id == "pink" }, Now: func() time.Time { return testNow },
		MaxAge: 720 * time.Hour}
	old := strings.Replace(validEvent, `"occurred_at": "2026-11-22T10:00:00Z"`, `"occurred_at": "2026-10-01T10:00:00Z"`, 1)
	_, err := v.Decode([]byte(old))
	var invalid Invalid
	require.ErrorAs(t, err, &invalid)
	assert.Equal(t, "occurred_at", invalid[0].Field)
	assert.Contains(t, invalid[0].Message, "older than retention.basket (720h0m0s)")
	_, err = v.Decode([]byte(validEvent))
	assert.NoError(t, err)
}
