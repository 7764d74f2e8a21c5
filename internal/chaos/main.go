// Command chaos checks basketassist's delivery promises under faults, with
// real processes: a redis-server with an append-only file, one `web` and
// three `worker` processes of the built binary, and an SMTP sink on
// loopback. For each scenario it sends baskets whose reminders fall due
// while workers are killed with SIGKILL, Redis is killed and restarted,
// Sentinel moves the primary to its replica, or the SMTP server fails on
// purpose; some shoppers unsubscribe and some buy
// around the due time. Once every queue is empty it compares what the sink
// received with what Redis recorded and what the shoppers did:
//
//   - nobody gets a reminder twice;
//   - no owed reminder is lost unless it was handed over (in_doubt);
//   - nobody gets one whose SMTP transaction began after their unsubscribe
//     was acknowledged, or after their purchase was applied;
//   - no address appears in Redis (asynq's keys included), the logs or /metrics.
//
// It prints one line per scenario and exits 1 on any violation. Run it
// through scripts/chaos.sh, which builds the binary.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// scenario is one fault schedule.
type scenario struct {
	name    string
	baskets int
	spread  time.Duration // baskets are created evenly over this time
	faults  sinkFaults
	// failover runs Redis as a primary, a replica and a Sentinel, the
	// service reaching it through the Sentinel with redis.wait_replicas 1.
	failover bool
	// chaos runs beside the load until stop is closed; it returns how many
	// faults it injected.
	chaos func(h *harness, rng *mrand.Rand, stop <-chan struct{}) (int, error)
}

var scenarios = []scenario{
	{name: "kill-workers", baskets: 1000, spread: 20 * time.Second, chaos: killWorkers(2*time.Second, 4*time.Second, 0)},
	{name: "kill-redis", baskets: 1000, spread: 20 * time.Second, chaos: killRedis},
	{name: "smtp-faults", baskets: 1000, spread: 20 * time.Second, faults: sinkFaults{TempFail: 0.20, Drop: 0.05}},
	{name: "failover", baskets: 1000, spread: 20 * time.Second, failover: true, chaos: failOver},
}

// short is the quick run of scripts/test.sh: one worker killed while
// reminders are in flight, and some temporary failures.
var short = scenario{name: "short", baskets: 300, spread: 6 * time.Second,
	faults: sinkFaults{TempFail: 0.10, Drop: 0.02}, chaos: killWorkers(9*time.Second, 9*time.Second, 1)}

func main() {
	bin := flag.String("bin", "", "the basketassist binary to test (required)")
	only := flag.String("scenario", "", "run only this scenario: kill-workers, kill-redis, smtp-faults or failover")
	quick := flag.Bool("short", false, "one quick mixed scenario (300 baskets, one worker kill, some 451s)")
	fsync := flag.String("appendfsync", "always", "redis-server appendfsync: always (what the guarantee needs) or everysec")
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "random seed, printed, to replay a run")
	keep := flag.Bool("keep", false, "keep the working directory (logs, Redis files, config)")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "chaos: -bin is required (scripts/chaos.sh builds it)")
		os.Exit(2)
	}
	run := scenarios
	if *quick {
		run = []scenario{short}
	}
	if *only != "" {
		run = nil
		for _, s := range scenarios {
			if s.name == *only {
				run = append(run, s)
			}
		}
		if run == nil {
			fmt.Fprintf(os.Stderr, "chaos: unknown scenario %q\n", *only)
			os.Exit(2)
		}
	}
	fmt.Printf("chaos: seed=%d appendfsync=%s\n", *seed, *fsync)
	failed := false
	for i, s := range run {
		r, err := runScenario(*bin, s, *fsync, *seed+uint64(i), *keep)
		if err != nil {
			fmt.Printf("scenario=%s error: %v\n", s.name, err)
			failed = true
			continue
		}
		fmt.Println(r.line())
		for _, v := range r.violations() {
			fmt.Printf("  VIOLATION %s\n", v)
			failed = true
		}
		for _, d := range r.doubts {
			fmt.Printf("  NOTE %s\n", d)
		}
	}
	if failed {
		os.Exit(1)
	}
}

func runScenario(bin string, s scenario, fsync string, seed uint64, keep bool) (_ *report, err error) {
	dir, err := os.MkdirTemp("", "basketassist-chaos-")
	if err != nil {
		return nil, err
	}
	var r *report
	defer func() {
		// Keep the evidence of a failed run: logs, Redis files, config.
		if keep || err != nil || len(r.violations()) > 0 || len(r.doubts) > 0 {
			fmt.Printf("scenario=%s dir=%s (kept)\n", s.name, dir)
			return
		}
		os.RemoveAll(dir)
	}()
	h, err := newHarness(bin, dir, fsync, seed, s.failover)
	if err != nil {
		return nil, err
	}
	defer h.close()
	h.sink.setFaults(s.faults)
	r, err = h.run(s, mrand.New(mrand.NewPCG(seed, 1)))
	return r, err
}

// writeConfig writes the service's configuration: one reminder step 5 s
// after the basket, quick retries, 4 SMTP connections shared by 20 tasks
// per worker, debug JSON logs (the most that could leak).
func writeConfig(dir, redisYAML string, smtpPort, webPort int, secret []byte) (path, apiKey, adminToken string, err error) {
	apiKey, adminToken = randHex(24), randHex(24)
	webAddr := fmt.Sprintf("127.0.0.1:%d", webPort)
	yaml := strings.Join([]string{
		redisYAML,
		fmt.Sprintf("smtp: {host: \"127.0.0.1\", port: %d, connections: 4, timeout: 10s}", smtpPort),
		"web: {listen: \"" + webAddr + "\", ops_listen: \"" + webAddr + "\", public_url: \"http://" + webAddr + "\", admin_token: \"" + adminToken + "\"}",
		"secrets: {key: \"" + base64.StdEncoding.EncodeToString(secret) + "\"}",
		"worker: {concurrency: 20, poll_interval: 500ms, retry_base: 1s, max_retry: 10, shutdown_timeout: 10s}",
		"reminders: {steps: [{after: 5s}]}",
		// Faults, not pacing: every owed email is due at once, day or night.
		"policy: {quiet_hours: {start: \"\", end: \"\"}, frequency_cap: {max: 0}}",
		"log: {level: debug, format: json}",
		"storefronts:",
		"  - id: chaos",
		"    name: Chaos Shop",
		"    from: \"Chaos Shop <hello@chaos.example>\"",
		"    api_key: \"" + apiKey + "\"",
		"    basket_url: \"https://chaos.example/basket/{basket_id}\"",
		"    postal_address: \"1 Test Street, London\"",
		"    default_locale: en-GB",
		"    rate_limit: {events_per_second: 100000, burst: 100000}",
		"",
	}, "\n")
	path = filepath.Join(dir, "basketassist.yaml")
	return path, apiKey, adminToken, os.WriteFile(path, []byte(yaml), 0o600)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// killWorkers kills a random worker with SIGKILL every min–max and starts
// it again at once; limit > 0 stops after that many kills. The first kill
// comes after min, when reminders are in flight.
func killWorkers(min, max time.Duration, limit int) func(*harness, *mrand.Rand, <-chan struct{}) (int, error) {
	return func(h *harness, rng *mrand.Rand, stop <-chan struct{}) (int, error) {
		kills := 0
		for limit == 0 || kills < limit {
			if !pause(stop, rng, min, max-min+1) {
				return kills, nil
			}
			w := h.fleet.workers[rng.IntN(len(h.fleet.workers))]
			w.kill9()
			kills++
			if err := w.start(); err != nil {
				return kills, err
			}
		}
		<-stop
		return kills, nil
	}
}

// killRedis kills redis-server with SIGKILL every 5–8 s and restarts it on
// its append-only file after a second.
func killRedis(h *harness, rng *mrand.Rand, stop <-chan struct{}) (int, error) {
	kills := 0
	for {
		if !pause(stop, rng, 5*time.Second, 3*time.Second) {
			return kills, nil
		}
		h.redis.kill9()
		kills++
		time.Sleep(time.Second) // the outage itself
		if err := h.redis.restart(); err != nil {
			return kills, err
		}
	}
}

// failOver moves the primary every 6–9 s, by turns as an operator's
// SENTINEL FAILOVER and as a crash: SIGKILL the primary, let Sentinel
// promote the replica (a second of silence), then start the old primary
// again on its append-only file, to rejoin as the new one's replica.
func failOver(h *harness, rng *mrand.Rand, stop <-chan struct{}) (int, error) {
	moves := 0
	for {
		if !pause(stop, rng, 6*time.Second, 3*time.Second) {
			return moves, nil
		}
		old, err := h.primary()
		if err != nil {
			return moves, err
		}
		requested := moves%2 == 0
		if !requested {
			old.kill9()
		}
		moves++
		var asked time.Time // the first poll asks
		if err := h.awaitSentinel(func(s *redis.SentinelClient) bool {
			if now, err := h.primary(); err == nil && now != old {
				return true
			}
			if requested && time.Since(asked) > 5*time.Second {
				// Sentinel can refuse (NOGOODSLAVE: the last move's replica
				// is still syncing) or accept and then abort
				// (-failover-abort-no-good-slave: the restarted old primary
				// still reported itself a primary): either way, ask again.
				// One in progress answers INPROG.
				_ = s.Failover(context.Background(), sentinelMaster).Err()
				asked = time.Now()
			}
			return false
		}); err != nil {
			return moves, fmt.Errorf("sentinel did not promote the replica: %w", err)
		}
		if !requested {
			if err := old.restart(); err != nil {
				return moves, err
			}
		}
	}
}

// pause waits least plus up to spread more at random, and says false
// when stop closed first.
func pause(stop <-chan struct{}, rng *mrand.Rand, least, spread time.Duration) bool {
	select {
	case <-stop:
		return false
	case <-time.After(least + time.Duration(rng.Int64N(int64(spread)))):
		return true
	}
}

func (h *harness) close() {
	if h.fleet != nil {
		h.fleet.stop()
	}
	for _, rs := range []*redisServer{h.sentinel, h.replica, h.redis} {
		if rs != nil {
			rs.stop()
		}
	}
	h.sink.close()
	_ = h.rdb.Close()
}
