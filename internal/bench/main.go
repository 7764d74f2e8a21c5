// Command bench measures what one machine of basketassist does, next to
// the engines it is built on, in one run against one throwaway
// redis-server (scripts/bench.sh starts it) and one in-process go-smtp
// sink. Each throughput figure alternates ours and the baseline in pairs
// and prints the median with min–max:
//
//   - events applied and scheduled (batches of 500) vs bare asynq no-op
//     tasks at the same concurrency;
//   - reminders sent, all due at once, over 4 SMTP connections vs raw
//     go-mail over 4 connections with a message of the same size;
//   - suppression checks in batches of 1,000 through the Go API the HTTP
//     route calls (hashing each address) vs a Go HMGET pipeline of 1,000 on
//     the same keys with the hashes precomputed (and redis-benchmark GET
//     -P 16); the HTTP route itself is shown beside;
//   - Redis bytes and service peak RSS per pending basket at 10k and 100k
//     (and 1M with -full);
//   - ingest latency at a fixed 500 requests/s, and reminder lateness after
//     due under that load.
//
// The last line is RATIOS …, for BENCHMARKS.md and for comparing runs.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/internal/redisinfo"
	"github.com/basketassist/basketassist/secrets"
	"github.com/basketassist/basketassist/suppression"
	"github.com/basketassist/basketassist/worker"
)

const (
	concurrency = 20 // worker.concurrency's default
	storefront  = "bench"
)

type bench struct {
	bin, dir   string
	redisAddr  string
	webAddr    string
	secret     string
	apiKey     string
	admin      string
	keys       *secrets.Keys
	rdb        *redis.Client
	inspector  *asynq.Inspector
	sink       *sink
	run        int // distinguishes event ids between runs
	suppressed *suppression.Store
	// messageBytes is the mean size of our last sent emails: the go-mail
	// baseline sends messages as big.
	messageBytes int64
	only         string
	profile      string
	// connections is how many SMTP connections both sides of the send
	// figure use (smtp.connections' default: 4).
	connections int
	// The CPU each process spent per reminder sent, ours and go-mail's,
	// over all pairs of the send figure.
	cpuOurs, cpuBase cpuSplit
	redisPID         int
	// With -scripts, Redis's time per reminder by command and script.
	scripts     bool
	scriptsOurs scriptTimes
}

// quiet keeps go-redis's pool from printing.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func main() {
	bin := flag.String("bin", "", "the basketassist binary")
	redisAddr := flag.String("redis", "", "the throwaway redis-server (its data is flushed)")
	full := flag.Bool("full", false, "also measure 1M pending baskets")
	pairs := flag.Int("pairs", 3, "alternating pairs per throughput figure")
	only := flag.String("only", "", "run one figure: events, send, checks, footprint or live")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the service while it sends (with -only send)")
	connections := flag.Int("connections", 4, "SMTP connections for both sides of the send figure")
	scripts := flag.Bool("scripts", false, "break Redis's time per reminder sent down by script (SLOWLOG; slows that send)")
	flag.Parse()
	if *bin == "" || *redisAddr == "" {
		fmt.Fprintln(os.Stderr, "usage: bench -bin BASKETASSIST -redis HOST:PORT [-full] [-pairs N] (run scripts/bench.sh)")
		os.Exit(2)
	}
	redis.SetLogger(quiet{})
	b, err := newBench(*bin, *redisAddr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	defer b.close()
	b.only, b.profile, b.connections, b.scripts = *only, *profile, max(*connections, 1), *scripts
	if err := b.all(context.Background(), *pairs, *full); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err, "(service log: "+b.dir+"/service.log)")
		os.Exit(1)
	}
}

func newBench(bin, redisAddr string) (*bench, error) {
	dir, err := os.MkdirTemp("", "basketassist-bench-")
	if err != nil {
		return nil, err
	}
	b := &bench{bin: bin, dir: dir, redisAddr: redisAddr, secret: randomKey(), apiKey: randomHex(24), admin: randomHex(24)}
	master, err := secrets.ParseKey(b.secret)
	if err != nil {
		return nil, err
	}
	if b.keys, err = secrets.New(master); err != nil {
		return nil, err
	}
	if b.webAddr, err = freeAddr(); err != nil {
		return nil, err
	}
	if b.sink, err = startSink(); err != nil {
		return nil, err
	}
	b.rdb = redis.NewClient(&redis.Options{Addr: redisAddr, PoolSize: 32})
	b.inspector = asynq.NewInspectorFromRedisClient(b.rdb)
	b.redisPID = redisPID(context.Background(), b.rdb)
	b.suppressed = suppression.NewStore(b.rdb, prefix, slog.New(slog.DiscardHandler))
	return b, b.rdb.Ping(context.Background()).Err()
}

func (b *bench) close() {
	b.sink.close()
	_ = b.rdb.Close()
	_ = os.RemoveAll(b.dir)
}

func (b *bench) flush(ctx context.Context) error { return b.rdb.FlushDB(ctx).Err() }

// event is basket i of this run: an email, consent, two lines.
func (b *bench) event(i int, local string, at time.Time) basket.Event {
	return basket.Event{ID: fmt.Sprintf("r%d-e%d", b.run, i), Type: basket.Updated, Storefront: storefront,
		BasketID: fmt.Sprintf("r%d-b%d", b.run, i), OccurredAt: at,
		Customer: &basket.Customer{Email: fmt.Sprintf("%s%d@bench.example", local, i), Name: "Sam", Locale: "en-GB",
			Consent: basket.Consent{BasketAssistance: true, Stated: true}},
		Basket: &basket.Contents{Currency: "GBP", Items: []basket.Item{
			{SKU: "S-1", Name: "Oxford shirt, white", Quantity: 2, UnitPrice: 8900,
				URL: "https://bench.example/p/s-1", ImageURL: "https://bench.example/i/s-1.jpg"},
			{SKU: "T-2", Name: "Silk tie, navy", Quantity: 1, UnitPrice: 4500, URL: "https://bench.example/p/t-2"}}}}
}

func (b *bench) all(ctx context.Context, pairs int, full bool) error {
	start := time.Now()
	fmt.Printf("bench: %s, redis %s, go-smtp sink on loopback, %d pairs per figure\n", machine(), redisVersion(ctx, b.rdb), pairs)
	var events, asynqTasks, sends, gomails, checks, hmgets sample
	var err error
	if b.runs("events") {
		if events, asynqTasks, err = b.pairs(ctx, pairs, b.oursEvents, b.baseAsynq); err != nil {
			return err
		}
		fmt.Printf("events applied and scheduled (%d in batches of %d), per s: ours %s | bare asynq no-op tasks, concurrency %d: %s\n",
			eventsN, basket.MaxBatch, events, concurrency, asynqTasks)
	}
	if b.runs("send") {
		if sends, gomails, err = b.pairs(ctx, pairs, b.oursSend, b.baseGoMail); err != nil {
			return err
		}
		fmt.Printf("reminders sent (%d due at once, %d SMTP connections, ~%d B each), per s: ours %s | raw go-mail, same connections and size: %s\n",
			sendN, b.connections, b.messageBytes, sends, gomails)
		fmt.Printf("CPU per reminder sent, all pairs: ours %s | raw go-mail %s (the bench process is the sink, and go-mail for the baseline)\n",
			b.cpuOurs, b.cpuBase)
		if b.scripts {
			fmt.Printf("Redis command time per reminder sent, by command and script (SLOWLOG of every command, which slowed those sends): %s\n", b.scriptsOurs)
		}
		// Four times the default tasks at once hold four times the rendered
		// reminders in flight: the service's soft memory limit must leave
		// room for them (cmd/basketassist memoryLimit).
		busy, _, err := b.pairs(ctx, 1, b.oursSendAt(4*concurrency), func(context.Context) (float64, error) { return 0, nil })
		if err != nil {
			return err
		}
		fmt.Printf("reminders sent at worker.concurrency %d (up to %d reminders in flight), per s: ours %s\n",
			4*concurrency, 4*concurrency*worker.RemindersPerTask, busy)
	}
	if b.runs("checks") {
		if err := b.setupChecks(ctx); err != nil {
			return err
		}
		var overHTTP sample
		checks, hmgets, err = b.pairs(ctx, pairs, b.oursCheckMany, b.baseHMGET)
		if err == nil {
			overHTTP, _, err = b.pairs(ctx, 1, b.oursChecks, func(context.Context) (float64, error) { return 0, nil })
		}
		b.stopCheckService()
		if err != nil {
			return err
		}
		fmt.Printf("suppression checks (batches of %d, %d suppressed of %d), per s: ours (hash + CheckAddresses) %s | Go HMGET pipeline of %d, hashes precomputed: %s | ours over HTTP (JSON in and out, one client): %s | %s\n",
			checkBatch, checkEntries, 2*checkEntries, checks, checkBatch, hmgets, overHTTP, redisBenchmark(b.redisAddr))
	}
	sizes := []int{10_000, 100_000}
	if full {
		sizes = append(sizes, 1_000_000)
	}
	var fp []footprint
	for _, n := range sizes {
		if !b.runs("footprint") {
			break
		}
		f, err := b.footprint(ctx, n, n == sizes[0])
		if err != nil {
			return err
		}
		fp = append(fp, f)
		fmt.Printf("pending baskets %d: Redis %.0f B each (raw event JSON %d B), service peak RSS %.1f MB (now %.1f MB), ingest %.0f events/s over HTTP\n",
			n, f.bytesPer, f.rawBytes, f.peakMB, f.nowMB, f.ingestRate)
	}
	var live liveResult
	if b.runs("live") {
		if live, err = b.live(ctx); err != nil {
			return err
		}
		fmt.Printf("ingest at a fixed %d requests/s for %s (one event each): p50 %s, p99 %s, max %s, %d refused\n",
			liveRate, liveFor, ms(live.ingestP50), ms(live.ingestP99), ms(live.ingestMax), live.refused)
		fmt.Printf("reminder lateness after due (%d reminders, %s after their event, under that load): p50 %s, p99 %s, max %s, earliest %s, %d early, %d missing\n",
			live.reminders, liveAfter, ms(live.lateP50), ms(live.lateP99), ms(live.lateMax), ms(live.lateMin), live.early, live.missing)
	}
	fmt.Printf("bench: took %s\n", time.Since(start).Round(time.Second))
	if b.only != "" {
		return nil
	}
	rss1m := "n/a"
	if full {
		rss1m = fmt.Sprintf("%.1f", fp[len(fp)-1].peakMB)
	}
	fmt.Printf("RATIOS events_vs_asynq=%.2f send_vs_gomail=%.2f check_vs_redis=%.2f bytes_per_pending=%.0f rss_mb_1m=%s late_p99_ms=%d\n",
		events.median()/asynqTasks.median(), sends.median()/gomails.median(), checks.median()/hmgets.median(),
		fp[len(fp)-1].bytesPer, rss1m, live.lateP99.Milliseconds())
	return nil
}

func (b *bench) runs(figure string) bool { return b.only == "" || b.only == figure }

// pairs runs ours then the baseline, n times, and returns both samples.
func (b *bench) pairs(ctx context.Context, n int, ours, base func(context.Context) (float64, error)) (sample, sample, error) {
	var o, r sample
	for range n {
		b.run++
		v, err := ours(ctx)
		if err != nil {
			return nil, nil, err
		}
		o = append(o, v)
		if v, err = base(ctx); err != nil {
			return nil, nil, err
		}
		r = append(r, v)
	}
	return o, r, nil
}

func machine() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				model = strings.TrimSpace(value)
				break
			}
		}
	}
	return fmt.Sprintf("%d cores (%s)", numCPU(), model)
}

func redisVersion(ctx context.Context, rdb *redis.Client) string {
	if v, err := redisinfo.Field(ctx, rdb, "server", "redis_version"); err == nil {
		return v
	}
	return "?"
}
