package basket

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/basketassist/basketassist/internal/redisinfo"
	"github.com/basketassist/basketassist/internal/redistest"
	"github.com/basketassist/basketassist/policy"
	"github.com/basketassist/basketassist/secrets"
)

// BenchmarkSealEvent measures sealing one validated event's customer and
// hashing its address: ingest does it for every event.
func BenchmarkSealEvent(b *testing.B) {
	keys := secrets.Throwaway()
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

// BenchmarkScripts measures what Redis itself spends on each Lua script of
// the pipeline, on a private redis-server with nothing else to do: apply
// (an event), then claim, hand-over and finish (a sent reminder), each on
// baskets of its own that the earlier scripts have brought to it. The
// metrics are Redis's own (INFO commandstats): redis-µs/op is the script's
// time per call with the commands it calls, redis-calls/op how many it
// calls. ns/op is the client's whole round trip. scripts/bench.sh's send
// figure runs claim, hand-over and finish once per reminder.
func BenchmarkScripts(b *testing.B) {
	rdb := redistest.Private(b)
	keys := secrets.Throwaway()
	store := NewStore(rdb, keys, StoreOptions{Prefix: "bench:", Steps: []time.Duration{time.Hour}})
	ctx := context.Background()
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	made := 0 // baskets so far: every run of a step gets fresh ones
	sealed := func(id string) Sealed {
		made++
		items := []Item{
			{SKU: "S1", Name: "Oxford shirt, white", Quantity: 2, UnitPrice: 8900, URL: "https://shop.example/p/oxford-white", ImageURL: "https://shop.example/img/oxford-white.jpg"},
			{SKU: "S2", Name: "Silk tie, navy", Quantity: 1, UnitPrice: 4500, URL: "https://shop.example/p/tie-navy", ImageURL: "https://shop.example/img/tie-navy.jpg"},
		}
		s, err := Seal(keys, Event{ID: fmt.Sprintf("e%d", made), Type: Updated, Storefront: "pink", BasketID: id, OccurredAt: at,
			Customer: &Customer{Email: fmt.Sprintf("ann%d@example.com", made), Name: "Ann", Consent: Consent{BasketAssistance: true}},
			Basket:   &Contents{Currency: "GBP", Items: items}})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	pace := Pace{Max: 3, Per: 24 * time.Hour, Keep: 7 * 24 * time.Hour, Now: at.Add(time.Hour)}
	handOver := func(id string) error {
		return store.HandOver(ctx, "pink", id, 1, 1, "a1", Suppression{Key: "bench:sup:" + id, Fields: []string{"*|all", "pink|basket"}, Recipient: "r" + id}, pace)
	}
	steps := []struct {
		name string
		run  func(id string, e Sealed) error
	}{
		{"apply", func(_ string, e Sealed) error { _, err := store.Apply(ctx, e); return err }},
		{"claim", func(id string, _ Sealed) error { _, err := store.Claim(ctx, "pink", id, 1, 1, "a1"); return err }},
		{"handover", func(id string, _ Sealed) error { return handOver(id) }},
		{"finish", func(id string, _ Sealed) error {
			_, err := store.Finish(ctx, "pink", id, 1, 1, Sent, &Decision{Step: 1, Outcome: policy.Send, At: pace.Now})
			return err
		}},
	}
	for i, step := range steps {
		b.Run(step.name, func(b *testing.B) {
			ids, events := make([]string, b.N), make([]Sealed, b.N)
			for n := range b.N {
				ids[n] = fmt.Sprintf("b_%d", made)
				events[n] = sealed(ids[n])
				for _, before := range steps[:i] {
					if err := before.run(ids[n], events[n]); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for n := range b.N {
				if err := step.run(ids[n], events[n]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			stats, err := redisinfo.Commands(ctx, rdb)
			if err != nil {
				b.Fatal(err)
			}
			// The loop sent nothing but EVALSHA (and SCRIPT LOAD once, and
			// the INFO just now): every other command is one a script called.
			script, inner := stats["evalsha"], int64(0)
			for name, c := range stats {
				if name != "evalsha" && name != "info" && !strings.Contains(name, "|") {
					inner += c.Calls
				}
			}
			if script.Calls == 0 {
				b.Fatal("no script ran")
			}
			b.ReportMetric(float64(script.Usec)/float64(script.Calls), "redis-µs/op")
			b.ReportMetric(float64(inner)/float64(script.Calls), "redis-calls/op")
		})
	}
}
