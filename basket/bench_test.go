package basket

import (
	"fmt"
	"strings"
	"testing"

	"github.com/basketassist/basketassist/secrets"
)

// BenchmarkSealEvent measures sealing one validated event's customer and
// hashing its address: ingest does it for every event.
func BenchmarkSealEvent(b *testing.B) {
	master, err := secrets.ParseKey(secrets.GenerateKey())
	if err != nil {
		b.Fatal(err)
	}
	keys, err := secrets.New(master)
	if err != nil {
		b.Fatal(err)
	}
	e, err := testValidator().Decode([]byte(validEvent))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		s, err := Seal(keys, e)
		if err != nil {
			b.Fatal(err)
		}
		if !s.HasEmail || s.Recipient == "" {
			b.Fatal("sealed event lost its recipient")
		}
	}
}

// BenchmarkDecodeBatch measures decoding and validating a full batch of
// MaxBatch events: the largest body POST /v1/events accepts.
func BenchmarkDecodeBatch(b *testing.B) {
	good := oneLine(validEvent)
	events := make([]string, MaxBatch)
	for i := range events {
		events[i] = strings.Replace(good, `"evt_1"`, fmt.Sprintf(`"evt_%d"`, i), 1)
	}
	body := []byte(`{"events": [` + strings.Join(events, ", ") + `]}`)
	v := testValidator()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		batch, err := v.DecodeBatch(body, OneOrBatch)
		if err != nil {
			b.Fatal(err)
		}
		if len(batch.Events) != MaxBatch {
			b.Fatalf("decoded %d valid events, want %d: %v", len(batch.Events), MaxBatch, batch.Problems)
		}
	}
}

// BenchmarkDecodeOne measures decoding a body of one event, as
// POST /v1/events receives it: the per-request floor of ingest.
func BenchmarkDecodeOne(b *testing.B) {
	body := []byte(validEvent)
	v := testValidator()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		batch, err := v.DecodeBatch(body, OneOrBatch)
		if err != nil {
			b.Fatal(err)
		}
		if len(batch.Events) != 1 {
			b.Fatalf("decoded %d valid events, want 1: %v", len(batch.Events), batch.Problems)
		}
	}
}
