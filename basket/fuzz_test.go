package basket

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeEvent: any request body either decodes to an event that is
// within every limit (its total an amount) and decodes again after
// encoding, or is refused naming fields; it never panics.
func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(validEvent))
	f.Add([]byte(`{"id":"e","type":"basket.updated","storefront":"pink","basket_id":"b","occurred_at":"2026-11-22T10:00:00Z",
		"basket":{"currency":"KWD","items":[{"sku":"s","name":"n","quantity":1000000,"unit_price":1000000000000}]}}`))
	f.Add([]byte(`{"events":[]}`))
	f.Add([]byte(`null`))
	v := testValidator()
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := v.Decode(body)
		if err != nil {
			return
		}
		if e.Basket != nil {
			if total := e.Basket.Total(); total < 0 || total > maxMinorAmount {
				t.Fatalf("accepted a basket whose total is %d", total)
			}
		}
		again, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Decode(again); err != nil {
			t.Fatalf("an accepted event does not decode again: %v\n%s", err, again)
		}
	})
}

// FuzzDecodeBatch: whatever the body, every event is either kept or named
// by a problem, never both and never neither, and nothing panics.
func FuzzDecodeBatch(f *testing.F) {
	f.Add([]byte(`{"events":[` + validEvent + `, 5, {"id": 1}]}`))
	f.Add([]byte(validEvent))
	f.Add([]byte("{}\nnot json\n" + `{"events":[]}`))
	v := testValidator()
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, form := range []Input{OneOrBatch, OneBatchOrLines} {
			b, err := v.DecodeBatch(body, form)
			if err != nil {
				continue
			}
			if len(b.Events)+b.Invalid() != b.Count || b.Count > max(MaxBatch, len(body)) {
				t.Fatalf("%d events kept, %d invalid, %d in the input", len(b.Events), b.Invalid(), b.Count)
			}
		}
	})
}
