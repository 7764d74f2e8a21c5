package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

const (
	liveRate  = 500 // requests per second
	liveFor   = 10 * time.Second
	liveAfter = 3 * time.Second // the reminder step
)

type liveResult struct {
	ingestP50, ingestP99, ingestMax    time.Duration
	refused                            int
	reminders, early, missing          int
	lateP50, lateP99, lateMax, lateMin time.Duration
}

// live sends one event per request at a fixed liveRate for liveFor (an
// open loop: a slow answer does not slow the sender), each basket's
// reminder falling due liveAfter later, while earlier ones are being
// sent; it reports the ingest latency and each reminder's arrival at the
// sink after its due time. The service runs its default poll interval.
func (b *bench) live(ctx context.Context) (liveResult, error) {
	var r liveResult
	if err := b.flush(ctx); err != nil {
		return r, err
	}
	svc, err := b.startService(settings{after: liveAfter})
	if err != nil {
		return r, err
	}
	defer svc.stop()
	total := int(liveFor.Seconds()) * liveRate
	r.reminders = total
	all := b.sink.reset(total)
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	var mu sync.Mutex
	latencies := make([]time.Duration, 0, total)
	due := make(map[string]time.Time, total)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / liveRate)
	defer tick.Stop()
	for i := range total {
		<-tick.C
		at := time.Now().UTC().Truncate(time.Millisecond)
		e := b.event(i, "l", at)
		mu.Lock()
		due[e.Customer.Email] = at.Add(liveAfter)
		mu.Unlock()
		body, _ := json.Marshal(e)
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, svc.url+"/v1/events", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+b.apiKey)
			req.Header.Set("Content-Type", "application/json")
			start := time.Now()
			resp, err := client.Do(req)
			took := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				r.refused++
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				r.refused++
			}
			latencies = append(latencies, took)
		}()
	}
	wg.Wait()
	select {
	case <-all:
	case <-time.After(2 * time.Minute):
	}
	r.ingestP50, r.ingestP99, r.ingestMax = percentile(latencies, 50), percentile(latencies, 99), percentile(latencies, 100)
	_, _, arrived := b.sink.stats()
	var late []time.Duration
	for rcpt, d := range due {
		got, ok := arrived[rcpt]
		if !ok {
			r.missing++
			continue
		}
		l := got.Sub(d)
		if l < 0 {
			r.early++
		}
		late = append(late, l)
	}
	if len(late) == 0 {
		return r, fmt.Errorf("live: no reminder arrived")
	}
	r.lateP50, r.lateP99, r.lateMax, r.lateMin = percentile(late, 50), percentile(late, 99), percentile(late, 100), percentile(late, 0)
	return r, nil
}
