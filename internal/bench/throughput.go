package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	gomail "github.com/wneessen/go-mail"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/suppression"
	"github.com/basketassist/basketassist/worker"
)

const (
	eventsN      = 20_000
	sendN        = 4_000
	checkBatch   = 1_000
	checkRounds  = 100
	checkEntries = 100_000
	// The service's redis.prefix (the default).
	prefix = "ba:"
	// Both sides poll an empty queue this often, so that neither waits
	// out a long poll after the start signal.
	poll = 100 * time.Millisecond
)

func numCPU() int { return runtime.NumCPU() }

// submit queues n events of this run as the HTTP API would, in batches of
// basket.MaxBatch, straight into asynq (ingest is measured apart).
func (b *bench) submit(ctx context.Context, n int, local string, at time.Time) error {
	producer := worker.NewProducer(asynq.NewClientFromRedisClient(b.rdb), b.keys, worker.ProducerOptions{})
	events := make([]basket.Event, 0, basket.MaxBatch)
	for i := range n {
		events = append(events, b.event(i, local, at))
		if len(events) == basket.MaxBatch || i == n-1 {
			if err := producer.Submit(ctx, events); err != nil {
				return err
			}
			events = events[:0]
		}
	}
	return nil
}

// oursEvents: with the events queue paused, queue eventsN events; then
// unpause and time until every basket's reminder is scheduled.
func (b *bench) oursEvents(ctx context.Context) (float64, error) {
	if err := b.flush(ctx); err != nil {
		return 0, err
	}
	svc, err := b.startService(settings{after: time.Hour, pollInterval: poll})
	if err != nil {
		return 0, err
	}
	defer svc.stop()
	if err := b.inspector.PauseQueue(worker.QueueEvents); err != nil {
		return 0, err
	}
	if err := b.submit(ctx, eventsN, "e", time.Now()); err != nil {
		return 0, err
	}
	start := time.Now()
	if err := b.inspector.UnpauseQueue(worker.QueueEvents); err != nil {
		return 0, err
	}
	err = waitFor(ctx, 5*time.Minute, "events scheduled", func() (bool, error) {
		n, err := b.rdb.ZCard(ctx, basket.DueIndexKey(prefix)).Result()
		return n >= eventsN, err
	})
	return eventsN / time.Since(start).Seconds(), err
}

// baseAsynq: the same count of no-op tasks through a bare asynq server at
// the same concurrency, queued while paused, timed from the unpause.
func (b *bench) baseAsynq(ctx context.Context) (float64, error) {
	if err := b.flush(ctx); err != nil {
		return 0, err
	}
	const queue = "bench"
	if err := b.inspector.PauseQueue(queue); err != nil {
		return 0, err
	}
	client := asynq.NewClientFromRedisClient(b.rdb)
	for i := range eventsN {
		if _, err := client.EnqueueContext(ctx, asynq.NewTask("noop", []byte(fmt.Sprint(i))), asynq.Queue(queue)); err != nil {
			return 0, err
		}
	}
	var done atomic.Int64
	all := make(chan struct{})
	srv := asynq.NewServerFromRedisClient(b.rdb, asynq.Config{Concurrency: concurrency, Queues: map[string]int{queue: 1},
		TaskCheckInterval: poll, DelayedTaskCheckInterval: poll, LogLevel: asynq.ErrorLevel})
	mux := asynq.NewServeMux()
	mux.HandleFunc("noop", func(context.Context, *asynq.Task) error {
		if done.Add(1) == eventsN {
			close(all)
		}
		return nil
	})
	if err := srv.Start(mux); err != nil {
		return 0, err
	}
	defer srv.Shutdown()
	start := time.Now()
	if err := b.inspector.UnpauseQueue(queue); err != nil {
		return 0, err
	}
	select {
	case <-all:
	case <-time.After(5 * time.Minute):
		return 0, fmt.Errorf("asynq baseline: %d of %d tasks after 5 minutes", done.Load(), eventsN)
	}
	return eventsN / time.Since(start).Seconds(), nil
}

// oursSend: sendN baskets whose reminder is already due wait in the
// paused email queue; unpause and time until the sink has every email.
func (b *bench) oursSend(ctx context.Context) (float64, error) { return b.oursSendAt(0)(ctx) }

// oursSendAt is oursSend with the worker running workerConcurrency email
// tasks at once (0: concurrency).
func (b *bench) oursSendAt(workerConcurrency int) func(context.Context) (float64, error) {
	return func(ctx context.Context) (float64, error) { return b.send(ctx, workerConcurrency) }
}

func (b *bench) send(ctx context.Context, workerConcurrency int) (float64, error) {
	if err := b.flush(ctx); err != nil {
		return 0, err
	}
	svc, err := b.startService(settings{after: time.Second, pollInterval: poll, concurrency: workerConcurrency})
	if err != nil {
		return 0, err
	}
	defer svc.stop()
	if err := b.inspector.PauseQueue(worker.QueueEmail); err != nil {
		return 0, err
	}
	if err := b.submit(ctx, sendN, "s", time.Now().Add(-5*time.Second)); err != nil {
		return 0, err
	}
	if err := waitFor(ctx, 5*time.Minute, "reminders pending", func() (bool, error) {
		// Every event applied and every reminder dispatched: all wait in
		// the paused queue (in batches, so tasks are fewer than reminders).
		pipe := b.rdb.TxPipeline()
		due := pipe.ZCard(ctx, basket.DueIndexKey(prefix))
		events := []*redis.IntCmd{pipe.LLen(ctx, worker.AsynqKey(worker.QueueEvents, "pending")),
			pipe.LLen(ctx, worker.AsynqKey(worker.QueueEvents, "active"))}
		pending := pipe.LLen(ctx, worker.AsynqKey(worker.QueueEmail, "pending"))
		if _, err := pipe.Exec(ctx); err != nil {
			return false, err
		}
		return due.Val() == 0 && events[0].Val() == 0 && events[1].Val() == 0 && pending.Val() > 0, nil
	}); err != nil {
		return 0, err
	}
	all := b.sink.reset(sendN)
	if b.profile != "" {
		go b.fetchProfile(svc, 2*time.Second)
	}
	clock := cpuClock{service: svc.cmd.Process.Pid, redis: b.redisPID}
	cpu := clock.read()
	if err := b.rdb.ConfigResetStat(ctx).Err(); err != nil { // commandstats from here on
		return 0, err
	}
	watched := 0 // the reminders the script watch counts: none unless all were sent
	if b.scripts && workerConcurrency == 0 {
		stop, err := b.scriptsOurs.watch(ctx, b.rdb)
		if err != nil {
			return 0, err
		}
		defer func() { stop(watched) }()
	}
	start := time.Now()
	if err := b.inspector.UnpauseQueue(worker.QueueEmail); err != nil {
		return 0, err
	}
	select {
	case <-all:
	case <-time.After(5 * time.Minute):
		n, _, _ := b.sink.stats()
		return 0, fmt.Errorf("send: %d of %d emails after 5 minutes", n, sendN)
	}
	rate := sendN / time.Since(start).Seconds()
	if workerConcurrency == 0 {
		b.cpuOurs.add(clock, cpu, sendN)
		b.cpuOurs.addCommands(ctx, b.rdb)
		watched = sendN
	}
	_, b.messageBytes, _ = b.sink.stats()
	return rate, nil
}

// baseGoMail: go-mail's own Send, one message per call as a service would
// call it, over b.connections connections, with a message of the size
// ours were.
func (b *bench) baseGoMail(ctx context.Context) (float64, error) {
	msg, err := b.sizedMessage()
	if err != nil {
		return 0, err
	}
	all := b.sink.reset(sendN)
	clock := cpuClock{redis: b.redisPID}
	cpu := clock.read()
	start := time.Now()
	errs := make(chan error, b.connections)
	for c := range b.connections {
		go func() {
			client, err := gomail.NewClient("127.0.0.1", gomail.WithPort(b.sink.port()), gomail.WithTLSPolicy(gomail.NoTLS))
			if err == nil {
				err = client.DialWithContext(ctx)
			}
			for i := c; err == nil && i < sendN; i += b.connections {
				err = client.Send(msg())
			}
			if client != nil {
				_ = client.Close()
			}
			errs <- err
		}()
	}
	for range b.connections {
		if err := <-errs; err != nil {
			return 0, fmt.Errorf("go-mail baseline: %w", err)
		}
	}
	<-all
	rate := sendN / time.Since(start).Seconds()
	b.cpuBase.add(clock, cpu, sendN)
	return rate, nil
}

// sizedMessage returns a maker of go-mail messages as big as ours were:
// a text and an HTML part, like a reminder.
func (b *bench) sizedMessage() (func() *gomail.Msg, error) {
	build := func(pad int) *gomail.Msg {
		m := gomail.NewMsg()
		_ = m.From("Bench Shirts <hello@bench.example>")
		_ = m.To("base@bench.example")
		m.Subject("You left something in your basket")
		m.SetBodyString(gomail.TypeTextPlain, strings.Repeat("Your basket is waiting for you.\n", pad/64+1))
		m.AddAlternativeString(gomail.TypeTextHTML, "<p>"+strings.Repeat("Your basket is waiting for you. ", pad/64+1)+"</p>")
		return m
	}
	var buf bytes.Buffer
	if _, err := build(0).WriteTo(&buf); err != nil {
		return nil, err
	}
	pad := max(int(b.messageBytes)-buf.Len(), 0)
	return func() *gomail.Msg { return build(pad) }, nil
}

var checkSvc *service

// setupChecks starts one service and stores checkEntries suppressions:
// the even-numbered addresses of 2×checkEntries.
func (b *bench) setupChecks(ctx context.Context) error {
	if err := b.flush(ctx); err != nil {
		return err
	}
	entries := make([]suppression.Entry, 0, checkEntries)
	for i := 0; i < 2*checkEntries; i += 2 {
		entries = append(entries, suppression.Entry{Recipient: b.keys.Recipient(checkAddress(i)), Scope: suppression.BasketAssistance,
			Storefront: storefront, Reason: suppression.Unsubscribed, Origin: suppression.Recipient, CreatedAt: time.Now()})
	}
	for len(entries) > 0 {
		n := min(len(entries), 10_000)
		if _, err := b.suppressed.AddMany(ctx, entries[:n]); err != nil {
			return err
		}
		entries = entries[n:]
	}
	var err error
	checkSvc, err = b.startService(settings{after: time.Hour})
	return err
}

func (b *bench) stopCheckService() {
	if checkSvc != nil {
		checkSvc.stop()
		checkSvc = nil
	}
}

func checkAddress(i int) string { return fmt.Sprintf("c%d@bench.example", i) }

// checkBatches are the same checkRounds batches for both sides: a spread
// of addresses, half of them suppressed.
func checkBatches() [][]string {
	out := make([][]string, checkRounds)
	for r := range out {
		for j := range checkBatch {
			out[r] = append(out[r], checkAddress((r*7919+j*104729)%(2*checkEntries)))
		}
	}
	return out
}

// oursChecks: POST /v1/suppressions/check with 1,000 addresses, one
// request after another on one connection.
func (b *bench) oursChecks(ctx context.Context) (float64, error) {
	batches := checkBatches()
	bodies := make([][]byte, len(batches))
	for i, emails := range batches {
		bodies[i], _ = json.Marshal(map[string]any{"emails": emails, "scope": "basket_assistance", "storefront": storefront})
	}
	client := &http.Client{Timeout: time.Minute}
	start := time.Now()
	for _, body := range bodies {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, checkSvc.url+"/v1/suppressions/check", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+b.admin)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		var out struct {
			Results []struct{ Suppressed bool }
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || len(out.Results) != checkBatch {
			return 0, fmt.Errorf("check: status %d, %d results, %v", resp.StatusCode, len(out.Results), err)
		}
	}
	return checkRounds * checkBatch / time.Since(start).Seconds(), nil
}

// oursCheckMany: the same checks through the Go API the HTTP route calls
// (suppression.Store.CheckAddresses, which hashes each address): what the
// service's check costs without HTTP and JSON.
func (b *bench) oursCheckMany(ctx context.Context) (float64, error) {
	start := time.Now()
	for _, emails := range checkBatches() {
		if _, err := b.suppressed.CheckAddresses(ctx, b.keys, emails, storefront, suppression.BasketAssistance); err != nil {
			return 0, err
		}
	}
	return checkRounds * checkBatch / time.Since(start).Seconds(), nil
}

// baseHMGET: the same lookups as one pipeline of 1,000 HMGETs per batch,
// on the same keys and fields, the hashes computed beforehand.
func (b *bench) baseHMGET(ctx context.Context) (float64, error) {
	type lookup struct {
		key    string
		fields []string
	}
	batches := checkBatches()
	lookups := make([][]lookup, len(batches))
	for i, emails := range batches {
		for _, e := range emails {
			key, fields := b.suppressed.Blocking(b.keys.Recipient(e), storefront, suppression.BasketAssistance)
			lookups[i] = append(lookups[i], lookup{key, fields})
		}
	}
	start := time.Now()
	for _, batch := range lookups {
		pipe := b.rdb.Pipeline()
		cmds := make([]*redis.SliceCmd, len(batch))
		for j, l := range batch {
			cmds[j] = pipe.HMGet(ctx, l.key, l.fields...)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return 0, err
		}
	}
	return checkRounds * checkBatch / time.Since(start).Seconds(), nil
}

var benchmarkRate = regexp.MustCompile(`GET: ([0-9.]+) requests per second`)

// redisBenchmark runs redis-benchmark GET pipelined 16 deep, for scale.
func redisBenchmark(addr string) string {
	host, port, _ := strings.Cut(addr, ":")
	out, err := exec.Command("redis-benchmark", "-h", host, "-p", port, "-t", "get", "-P", "16", "-n", "1000000", "-q").CombinedOutput()
	if m := benchmarkRate.FindSubmatch(out); err == nil && m != nil {
		return "redis-benchmark -t get -P 16: " + string(m[1]) + " GET/s"
	}
	return "redis-benchmark: not run"
}

// fetchProfile writes a CPU profile of the service over d to b.profile.
func (b *bench) fetchProfile(svc *service, d time.Duration) {
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", svc.url, int(d.Seconds())), nil)
	req.Header.Set("Authorization", "Bearer "+b.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if f, err := os.Create(b.profile); err == nil {
		_, _ = io.Copy(f, resp.Body)
		_ = f.Close()
	}
}
