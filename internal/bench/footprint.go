package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/internal/redisinfo"
)

type footprint struct {
	bytesPer   float64
	rawBytes   int
	peakMB     float64
	nowMB      float64
	ingestRate float64
}

// footprint: n baskets, each with a pending reminder, sent through the
// HTTP API by two clients in batches of 500; then Redis's used_memory per
// basket and the service's peak RSS. With breakdown, it also prints what
// each kind of key costs per basket.
func (b *bench) footprint(ctx context.Context, n int, breakdown bool) (footprint, error) {
	var f footprint
	if err := b.flush(ctx); err != nil {
		return f, err
	}
	svc, err := b.startService(settings{after: time.Hour})
	if err != nil {
		return f, err
	}
	defer svc.stop()
	before, err := usedMemory(ctx, b)
	if err != nil {
		return f, err
	}
	raw, _ := json.Marshal(b.event(0, "f", time.Now()))
	f.rawBytes = len(raw)
	client := &basket.Client{BaseURL: svc.url, APIKey: b.apiKey}
	const clients = 2
	start := time.Now()
	errs := make(chan error, clients)
	var mu sync.Mutex
	next := 0
	for range clients {
		go func() {
			for {
				mu.Lock()
				from := next
				next += basket.MaxBatch
				mu.Unlock()
				if from >= n {
					errs <- nil
					return
				}
				at := time.Now()
				events := make([]basket.Event, 0, basket.MaxBatch)
				for i := from; i < min(from+basket.MaxBatch, n); i++ {
					events = append(events, b.event(i, "f", at))
				}
				if _, err := client.Send(ctx, events...); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for range clients {
		if err := <-errs; err != nil {
			return f, fmt.Errorf("ingest: %w", err)
		}
	}
	if err := waitFor(ctx, 30*time.Minute, "pending baskets scheduled", func() (bool, error) {
		c, err := b.rdb.ZCard(ctx, basket.DueIndexKey(prefix)).Result()
		return c >= int64(n), err
	}); err != nil {
		return f, err
	}
	f.ingestRate = float64(n) / time.Since(start).Seconds()
	after, err := usedMemory(ctx, b)
	if err != nil {
		return f, err
	}
	f.bytesPer = float64(after-before) / float64(n)
	f.peakMB, f.nowMB = svc.memory()
	if breakdown {
		if err := b.printBreakdown(ctx, n); err != nil {
			return f, err
		}
	}
	return f, nil
}

func usedMemory(ctx context.Context, b *bench) (int64, error) {
	v, err := redisinfo.Field(ctx, b.rdb, "memory", "used_memory")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}

var (
	braces = regexp.MustCompile(`\{[^}]*\}`)
	digits = regexp.MustCompile(`[0-9a-f]{16,}|[0-9]+`)
)

// printBreakdown groups every key by its shape (ids and hashes elided)
// and prints MEMORY USAGE per basket for each shape.
func (b *bench) printBreakdown(ctx context.Context, n int) error {
	byShape := map[string]int64{}
	counts := map[string]int{}
	iter := b.rdb.Scan(ctx, 0, "*", 1000).Iterator()
	var keys []string
	flushKeys := func() error {
		pipe := b.rdb.Pipeline()
		cmds := make([]interface{ Val() int64 }, len(keys))
		for i, k := range keys {
			cmds[i] = pipe.MemoryUsage(ctx, k)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		for i, k := range keys {
			shape := digits.ReplaceAllString(braces.ReplaceAllString(k, "{…}"), "N")
			byShape[shape] += cmds[i].Val()
			counts[shape]++
		}
		keys = keys[:0]
		return nil
	}
	for iter.Next(ctx) {
		if keys = append(keys, iter.Val()); len(keys) == 1000 {
			if err := flushKeys(); err != nil {
				return err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if err := flushKeys(); err != nil {
		return err
	}
	shapes := make([]string, 0, len(byShape))
	for s := range byShape {
		shapes = append(shapes, s)
	}
	sort.Slice(shapes, func(i, j int) bool { return byShape[shapes[i]] > byShape[shapes[j]] })
	fmt.Printf("  where the bytes of %d pending baskets are (MEMORY USAGE, per basket):\n", n)
	for _, s := range shapes {
		if per := float64(byShape[s]) / float64(n); per >= 1 {
			fmt.Printf("    %-44s %6.0f B  (%d keys)\n", s, per, counts[s])
		}
	}
	return nil
}
