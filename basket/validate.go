package basket

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/currency"
	"golang.org/x/text/language"

	"github.com/basketassist/basketassist/secrets"
)

// Limits of contract v1. They keep one event well under the 1 MiB request limit.
const (
	MaxItems       = 200
	maxIDLen       = 128
	maxTextLen     = 500
	maxURLLen      = 2048
	maxFutureSkew  = 5 * time.Minute
	maxQuantity    = 1_000_000
	maxMinorAmount = 1_000_000_000_000 // a trillion minor units: far above any basket, far below int64 overflow
)

var basketIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// Problem names one problem with one field of one event: the one type
// the validator, the HTTP API's 400 body, emit and the Go client share.
// Index is the event's position in its batch (0 for a lone event).
type Problem struct {
	Index   int    `json:"index"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e Problem) Error() string { return e.Field + ": " + e.Message }

// Invalid lists every problem found in one event. Decode returns it as the error.
type Invalid []Problem

func (v Invalid) Error() string {
	parts := make([]string, len(v))
	for i, e := range v {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// Validator decodes and checks events against the configured storefronts.
type Validator struct {
	// Storefronts reports whether a storefront id is configured.
	Storefronts func(id string) bool
	// Now is the clock used to reject events from the future; nil means time.Now.
	Now func() time.Time
	// MaxAge refuses events older than it (retention.basket: their basket
	// would already be gone); 0: no limit.
	MaxAge time.Duration
}

// wire mirrors Event with the fields whose JSON form must be checked by hand,
// so that every problem can name its field (encoding/json alone cannot).
type wire struct {
	ID         string        `json:"id"`
	Type       Type          `json:"type"`
	Storefront string        `json:"storefront"`
	BasketID   string        `json:"basket_id"`
	OccurredAt string        `json:"occurred_at"`
	Customer   *Customer     `json:"customer"`
	Basket     *wireContents `json:"basket"`
	Order      *wireOrder    `json:"order"`
}

type wireContents struct {
	Currency string     `json:"currency"`
	Items    []wireItem `json:"items"`
}

type wireItem struct {
	SKU       string          `json:"sku"`
	Name      string          `json:"name"`
	Quantity  json.RawMessage `json:"quantity"`
	UnitPrice json.RawMessage `json:"unit_price"`
	URL       string          `json:"url"`
	ImageURL  string          `json:"image_url"`
}

type wireOrder struct {
	ID    string          `json:"id"`
	Total json.RawMessage `json:"total"`
}

// Decode parses one JSON event strictly (unknown fields are errors) and
// validates it. On failure the error is Invalid, naming every bad field.
func (v Validator) Decode(data []byte) (Event, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	e, err := v.decodeNext(dec, data)
	if err == nil && dec.More() {
		return Event{}, Invalid{{Field: "event", Message: "unexpected data after the JSON object"}}
	}
	return e, err
}

// decodeNext decodes and checks the next value of dec, which reads data.
// A value that is not an object is one problem, not a broken stream.
func (v Validator) decodeNext(dec *json.Decoder, data []byte) (Event, error) {
	if rest := bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n,"); len(rest) > 0 && rest[0] != '{' {
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return Event{}, Invalid{DescribeJSON(err, "event")}
		}
		return Event{}, Invalid{{Field: "event", Message: "must be an object"}}
	}
	start := dec.InputOffset()
	var w wire
	if err := dec.Decode(&w); err != nil {
		var syntaxErr *json.SyntaxError
		if errors.As(err, &syntaxErr) || errors.Is(err, io.ErrUnexpectedEOF) || dec.InputOffset() <= start {
			return Event{}, Invalid{DescribeJSON(err, "event")}
		}
		// The value was read whole and refused for its shape: say all
		// that is wrong with it, not only the first thing.
		return Event{}, v.everyProblem(bytes.TrimLeft(data[start:dec.InputOffset()], " \t\r\n,"), err)
	}
	return v.check(w)
}

// DescribeJSON names what encoding/json refused in a value, as a problem
// of one field (whole: the value's own name, for what is no field's), in
// the contract's words rather than the library's (Go type names).
func DescribeJSON(err error, whole string) Problem {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = whole
		}
		return Problem{Field: field, Message: fmt.Sprintf("must be %s, got %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value)}
	case errors.As(err, &syntaxErr):
		return Problem{Field: whole, Message: fmt.Sprintf("malformed JSON at byte %d: %v", syntaxErr.Offset, err)}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return Problem{Field: name, Message: "unknown field (contract v1)"}
	case errors.Is(err, io.EOF):
		return Problem{Field: whole, Message: "is empty"}
	default:
		return Problem{Field: whole, Message: "malformed JSON: " + err.Error()}
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "struct", "map", "ptr":
		return "an object"
	case "slice":
		return "an array"
	default:
		return "a " + goKind
	}
}

type problems struct{ list Invalid }

func (p *problems) add(field, format string, args ...any) {
	p.list = append(p.list, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (v Validator) check(w wire) (Event, error) {
	var p problems
	e := Event{ID: w.ID, Type: w.Type, Storefront: w.Storefront, BasketID: w.BasketID, Customer: w.Customer}

	switch {
	case w.ID == "":
		p.add("id", "is required")
	case len(w.ID) > maxIDLen || strings.ContainsFunc(w.ID, isSpaceOrControl):
		p.add("id", "must be 1-%d characters without spaces", maxIDLen)
	}
	if !w.Type.valid() {
		if w.Type == "" {
			p.add("type", "is required")
		} else {
			p.add("type", "unknown type %q (want basket.updated, checkout.started, order.completed or basket.cleared)", w.Type)
		}
	}
	switch {
	case w.Storefront == "":
		p.add("storefront", "is required")
	case v.Storefronts == nil || !v.Storefronts(w.Storefront):
		p.add("storefront", "unknown storefront %q", w.Storefront)
	}
	switch {
	case w.BasketID == "":
		p.add("basket_id", "is required")
	case !basketIDPattern.MatchString(w.BasketID):
		p.add("basket_id", "must be 1-128 characters of A-Z a-z 0-9 . _ : -")
	}
	if w.OccurredAt == "" {
		p.add("occurred_at", "is required (RFC 3339, e.g. 2026-11-22T10:00:00Z)")
	} else if t, err := time.Parse(time.RFC3339Nano, w.OccurredAt); err != nil {
		p.add("occurred_at", "must be RFC 3339, e.g. 2026-11-22T10:00:00Z, got %q", w.OccurredAt)
	} else {
		now := time.Now
		if v.Now != nil {
			now = v.Now
		}
		if t.After(now().Add(maxFutureSkew)) {
			p.add("occurred_at", "is more than %s in the future; check the storefront's clock", maxFutureSkew)
		} else if v.MaxAge > 0 && t.Before(now().Add(-v.MaxAge)) {
			p.add("occurred_at", "is older than retention.basket (%s): its basket would already be gone", v.MaxAge)
		}
		e.OccurredAt = t.UTC()
	}
	if c := w.Customer; c != nil {
		checkCustomer(&p, c)
	}
	if w.Basket != nil {
		e.Basket = checkContents(&p, w.Basket)
	} else if w.Type == Updated {
		p.add("basket", "is required for basket.updated")
	}
	if w.Order != nil {
		if w.Type != OrderCompleted {
			p.add("order", "is only allowed with type order.completed")
		}
		e.Order = &Order{ID: w.Order.ID, Total: minorUnits(&p, "order.total", w.Order.Total)}
	}
	if len(p.list) > 0 {
		return Event{}, p.list
	}
	return e, nil
}

func checkCustomer(p *problems, c *Customer) {
	if c.Email != "" {
		if len(c.Email) > secrets.MaxAddressLen {
			p.add("customer.email", "is longer than %d characters", secrets.MaxAddressLen)
		} else if err := secrets.CheckAddress(c.Email); err != nil {
			p.add("customer.email", "%v", err) // never the value: messages end up in logs
		}
	} else if c.Consent.BasketAssistance {
		p.add("customer.email", "is required when consent.basket_assistance is true")
	}
	if len(c.Name) > maxTextLen {
		p.add("customer.name", "is longer than %d characters", maxTextLen)
	} else {
		checkText(p, "customer.name", c.Name)
	}
	if c.Locale != "" {
		if _, err := language.Parse(c.Locale); err != nil {
			p.add("customer.locale", "must be a BCP 47 tag like en-GB, got %q", c.Locale)
		}
	}
	if c.Timezone != "" {
		if _, err := time.LoadLocation(c.Timezone); err != nil || c.Timezone == "Local" {
			p.add("customer.timezone", "must be an IANA zone like Europe/London, got %q", c.Timezone)
		}
	}
}

// checkText refuses what a name shown in an email header or body must not
// hold: invalid UTF-8 and control characters (a line break in a name would
// break the To header). Quotes, backslashes and any letters are fine: the
// sender encodes them.
func checkText(p *problems, field, s string) {
	if !utf8.ValidString(s) {
		p.add(field, "is not valid UTF-8")
		return
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			p.add(field, "must not contain control characters (found U+%04X)", r)
			return
		}
	}
}

func checkContents(p *problems, w *wireContents) *Contents {
	c := &Contents{Currency: w.Currency}
	if w.Currency == "" {
		p.add("basket.currency", "is required (ISO 4217, e.g. GBP)")
	} else if !validCurrency(w.Currency) {
		p.add("basket.currency", "unknown currency %q (want an ISO 4217 code like GBP)", w.Currency)
	}
	if len(w.Items) > MaxItems {
		p.add("basket.items", "has %d items, at most %d allowed", len(w.Items), MaxItems)
		return c
	}
	for i, it := range w.Items {
		f := fmt.Sprintf("basket.items[%d].", i)
		if it.SKU == "" || len(it.SKU) > maxIDLen {
			p.add(f+"sku", "is required, at most %d characters", maxIDLen)
		}
		if it.Name == "" || len(it.Name) > maxTextLen {
			p.add(f+"name", "is required, at most %d characters", maxTextLen)
		} else {
			checkText(p, f+"name", it.Name)
		}
		item := Item{SKU: it.SKU, Name: it.Name, URL: it.URL, ImageURL: it.ImageURL}
		item.Quantity = integer(p, f+"quantity", it.Quantity, 1, maxQuantity)
		item.UnitPrice = minorUnits(p, f+"unit_price", it.UnitPrice)
		checkURL(p, f+"url", it.URL)
		checkURL(p, f+"image_url", it.ImageURL)
		c.Items = append(c.Items, item)
	}
	// The total must be an amount too: lines each within limits could
	// otherwise add up past int64 and print as a negative price.
	var total int64
	for _, it := range c.Items {
		if it.Quantity > 0 && it.UnitPrice > (maxMinorAmount-total)/it.Quantity {
			p.add("basket.items", "the basket's total exceeds %d minor units, the largest amount accepted", int64(maxMinorAmount))
			break
		}
		total += it.Quantity * it.UnitPrice
	}
	return c
}

func validCurrency(code string) bool {
	if len(code) != 3 || strings.ToUpper(code) != code {
		return false
	}
	_, err := currency.ParseISO(code)
	return err == nil
}

func minorUnits(p *problems, field string, n json.RawMessage) int64 {
	if isNull(n) {
		p.add(field, "is required (an integer in minor units, e.g. 8900 for £89.00)")
		return 0
	}
	return integer(p, field, n, 0, maxMinorAmount)
}

// integer reads a JSON number that must be whole. A quoted number is refused
// (json.Number alone would accept "8900"): money is never a string here.
func integer(p *problems, field string, n json.RawMessage, lo, hi int64) int64 {
	if isNull(n) {
		p.add(field, "is required")
		return 0
	}
	if n[0] == '"' {
		p.add(field, "must be a JSON number, not a string, got %s", n)
		return 0
	}
	v, err := strconv.ParseInt(string(n), 10, 64)
	switch {
	case err != nil:
		p.add(field, "must be a whole number (money is in minor units: 8900, not 89.00), got %s", n)
	case v < lo:
		if lo == 0 {
			p.add(field, "must not be negative, got %d", v)
		} else {
			p.add(field, "must be at least %d, got %d", lo, v)
		}
	case v > hi:
		p.add(field, "must be at most %d, got %d", hi, v)
	}
	return v
}

func isNull(n json.RawMessage) bool {
	return len(n) == 0 || string(n) == "null"
}

func checkURL(p *problems, field, raw string) {
	if raw == "" {
		return
	}
	u, err := url.Parse(raw)
	if err != nil || len(raw) > maxURLLen || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		p.add(field, "must be an absolute http(s) URL of at most %d characters", maxURLLen)
	}
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }
