package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/secrets"
	"github.com/basketassist/basketassist/worker"
)

// harness is one scenario's world: Redis, the sink, the service and what
// the shoppers did.
type harness struct {
	dir   string
	redis *redisServer
	// With failover: a replica of redis and a Sentinel watching both; the
	// service finds the primary through it and either may be primary.
	replica  *redisServer
	sentinel *redisServer
	sink     *sink
	fleet    *fleet
	rdb      *redis.Client
	webURL   string
	apiKey   string
	admin    string
	http     *http.Client
	baskets  []*shopper
	keys     *secrets.Keys // the service's: it signs the Message-IDs the checks count by
}

// shopper is one basket and what its owner did around the due time.
type shopper struct {
	id, email   string
	unsubscribe bool
	purchase    bool
	actAt       time.Duration // when to unsubscribe or buy, after the basket
	mu          sync.Mutex
	unsubAcked  time.Time // the unsubscribe's 2xx arrived
	purchasedAt time.Time // the purchase was seen applied in Redis
}

// state reads the baskets' state (the store's sealing keys are not needed for that).
func (h *harness) state() *basket.Store {
	return basket.NewStore(h.rdb, nil, basket.StoreOptions{Prefix: "ba:"})
}

// quiet keeps go-redis's pool from printing while Redis is down on purpose.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(quiet{}) }

// sentinelMaster is the name the failover scenario's Sentinel knows the primary by.
const sentinelMaster = "chaos"

func newHarness(bin, dir, fsync string, seed uint64, failover bool) (*harness, error) {
	h := &harness{dir: dir, http: &http.Client{Timeout: 10 * time.Second}}
	var err error
	if h.sink, err = startSink(seed); err != nil {
		return nil, err
	}
	// Replicas sync at once (no diskless delay): roles swap in a failover.
	fastSync := []string{"--repl-diskless-sync-delay", "0"}
	if h.redis, err = startRedis(dir, "redis", fsync, fastSync...); err != nil {
		h.sink.close()
		return nil, err
	}
	h.rdb = redis.NewClient(&redis.Options{Addr: h.redis.addr})
	redisYAML := `redis: {addr: "` + h.redis.addr + `"}`
	if failover {
		if redisYAML, err = h.startFailover(dir, fsync, fastSync); err != nil {
			h.close()
			return nil, err
		}
	}
	webPort, err := freePort()
	if err != nil {
		h.close()
		return nil, err
	}
	secret := make([]byte, secrets.KeySize)
	_, _ = rand.Read(secret) // crypto/rand.Read never fails on supported platforms
	if h.keys, err = secrets.New(secret); err != nil {
		h.close()
		return nil, err
	}
	cfg, apiKey, admin, err := writeConfig(dir, redisYAML, h.sink.port(), webPort, secret)
	if err != nil {
		h.close()
		return nil, err
	}
	h.webURL, h.apiKey, h.admin = "http://127.0.0.1:"+strconv.Itoa(webPort), apiKey, admin
	if h.fleet, err = startFleet(bin, cfg, dir, 3); err != nil {
		h.close()
		return nil, err
	}
	if err := h.waitHealthy(); err != nil {
		h.close()
		return nil, err
	}
	return h, nil
}

// startFailover adds a replica of h.redis and a Sentinel, points h.rdb at
// whichever is primary, and returns the service's redis config: through
// the Sentinel, every promise confirmed by the replica.
func (h *harness) startFailover(dir, fsync string, fastSync []string) (string, error) {
	host, port, _ := net.SplitHostPort(h.redis.addr)
	var err error
	if h.replica, err = startRedis(dir, "replica", fsync, append(fastSync, "--replicaof", host, port)...); err != nil {
		return "", err
	}
	if h.sentinel, err = startSentinel(dir, sentinelMaster, h.redis); err != nil {
		return "", err
	}
	_ = h.rdb.Close()
	h.rdb = redis.NewFailoverClient(&redis.FailoverOptions{MasterName: sentinelMaster, SentinelAddrs: []string{h.sentinel.addr}})
	if err := h.awaitSentinel(func(s *redis.SentinelClient) bool {
		rs, err := s.Replicas(context.Background(), sentinelMaster).Result()
		return err == nil && len(rs) == 1
	}); err != nil {
		return "", fmt.Errorf("sentinel did not find the replica: %w", err)
	}
	return fmt.Sprintf(`redis: {sentinel: {master: %q, addrs: [%q]}, wait_replicas: 1, wait_timeout: 2s}`, sentinelMaster, h.sentinel.addr), nil
}

// awaitSentinel polls the Sentinel until done holds (30 s at most).
func (h *harness) awaitSentinel(done func(*redis.SentinelClient) bool) error {
	s := redis.NewSentinelClient(&redis.Options{Addr: h.sentinel.addr})
	defer s.Close()
	deadline := time.Now().Add(30 * time.Second)
	for !done(s) {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within 30 s")
		}
		time.Sleep(50 * time.Millisecond) // polling Sentinel's view; following its events would need a subscriber
	}
	return nil
}

// primary is whichever of the failover scenario's servers Sentinel names.
func (h *harness) primary() (*redisServer, error) {
	s := redis.NewSentinelClient(&redis.Options{Addr: h.sentinel.addr})
	defer s.Close()
	a, err := s.GetMasterAddrByName(context.Background(), sentinelMaster).Result()
	if err != nil {
		return nil, err
	}
	for _, rs := range []*redisServer{h.redis, h.replica} {
		if len(a) == 2 && rs.addr == net.JoinHostPort(a[0], a[1]) {
			return rs, nil
		}
	}
	return nil, fmt.Errorf("sentinel names %v, neither server", a)
}

func (h *harness) waitHealthy() error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := h.http.Get(h.webURL + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("web did not become ready at %s (see %s)", h.webURL, h.fleet.web.log)
		}
		time.Sleep(50 * time.Millisecond) // polling a child process that has no readiness signal
	}
}

// post sends body until one of the statuses in ok comes back, retrying
// what a storefront retries: connection errors and 5xx (Redis down gives
// 503, "nothing queued; retry"). It returns when the answer arrived.
func (h *harness) post(path, bearer string, body any, ok ...int) (time.Time, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return time.Time{}, err
	}
	deadline := time.Now().Add(3 * time.Minute)
	wait := 50 * time.Millisecond
	for {
		req, _ := http.NewRequest(http.MethodPost, h.webURL+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set("Content-Type", "application/json")
		resp, err := h.http.Do(req)
		if err == nil {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			_ = resp.Body.Close()
			for _, code := range ok {
				if resp.StatusCode == code {
					return time.Now(), nil
				}
			}
			if resp.StatusCode < 500 {
				return time.Time{}, fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, msg)
			}
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("POST %s: no success within 3 minutes (last: %v)", path, err)
		}
		time.Sleep(wait) // retry backoff, as a storefront's client does
		wait = min(2*wait, time.Second)
	}
}

func (h *harness) basketEvent(s *shopper, typ string) map[string]any {
	e := map[string]any{"id": "evt-" + s.id + "-" + typ, "type": typ, "storefront": "chaos", "basket_id": s.id,
		"occurred_at": time.Now().UTC().Format(time.RFC3339Nano)}
	switch typ {
	case "basket.updated":
		e["customer"] = map[string]any{"email": s.email, "name": "Chaos Shopper", "consent": map[string]any{"basket_assistance": true}}
		e["basket"] = map[string]any{"currency": "GBP", "items": []any{map[string]any{"sku": "S-1", "name": "Oxford shirt", "quantity": 1, "unit_price": 8900}}}
	case "order.completed":
		e["order"] = map[string]any{"id": "o-" + s.id, "total": 8900}
	}
	return e
}

// run drives one scenario to its end and checks the outcome.
func (h *harness) run(s scenario, rng *mrand.Rand) (*report, error) {
	start := time.Now()
	for i := range s.baskets {
		sh := &shopper{id: "b_" + strconv.Itoa(i), email: fmt.Sprintf("p%d.chaos@shop.test", i)}
		// One in ten unsubscribes and one in ten buys, each somewhere between
		// 1.5 s before and 1.5 s after the reminder falls due (5 s).
		switch i % 10 {
		case 3:
			sh.unsubscribe = true
		case 7:
			sh.purchase = true
		}
		sh.actAt = 3500*time.Millisecond + time.Duration(rng.Int64N(int64(3*time.Second)))
		h.baskets = append(h.baskets, sh)
	}

	stop := make(chan struct{})
	chaosDone := make(chan error, 1)
	kills := 0
	go func() {
		if s.chaos == nil {
			<-stop
			chaosDone <- nil
			return
		}
		n, err := s.chaos(h, rng, stop)
		kills = n
		chaosDone <- err
	}()

	errs := make(chan error, 2*len(h.baskets))
	var wg sync.WaitGroup
	for i, sh := range h.baskets {
		at := start.Add(s.spread * time.Duration(i) / time.Duration(len(h.baskets)))
		wg.Go(func() {
			time.Sleep(time.Until(at)) // the load's schedule
			if _, err := h.post("/v1/events", h.apiKey, h.basketEvent(sh, "basket.updated"), http.StatusAccepted); err != nil {
				errs <- err
				return
			}
			if !sh.unsubscribe && !sh.purchase {
				return
			}
			time.Sleep(time.Until(at.Add(sh.actAt)))
			if err := h.act(sh); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	// Keep the faults going until every first attempt is past.
	time.Sleep(time.Until(start.Add(s.spread + 10*time.Second)))
	close(stop)
	if err := <-chaosDone; err != nil {
		return nil, err
	}
	close(errs)
	for err := range errs {
		return nil, err
	}
	if err := h.settle(5 * time.Minute); err != nil {
		return nil, err
	}
	r, err := h.check(s.name)
	if err != nil {
		return nil, err
	}
	r.kills, r.took = kills, time.Since(start)
	return r, nil
}

// act unsubscribes or buys, and records when that was acknowledged.
func (h *harness) act(sh *shopper) error {
	if sh.unsubscribe {
		at, err := h.post("/v1/suppressions", h.admin, map[string]any{"email": sh.email, "scope": "basket_assistance",
			"storefront": "chaos", "reason": "manual"}, http.StatusCreated, http.StatusOK)
		if err != nil {
			return err
		}
		sh.mu.Lock()
		sh.unsubAcked = at
		sh.mu.Unlock()
		return nil
	}
	if _, err := h.post("/v1/events", h.apiKey, h.basketEvent(sh, "order.completed"), http.StatusAccepted); err != nil {
		return err
	}
	// The purchase is applied by a worker; watch for it in Redis. The time
	// seen is after the instant it was applied, so a transaction that began
	// later certainly began after the purchase.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		status, err := h.state().Status(context.Background(), "chaos", sh.id)
		if err == nil && status == basket.Purchased {
			sh.mu.Lock()
			sh.purchasedAt = time.Now()
			sh.mu.Unlock()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("basket %s: purchase not applied within 3 minutes", sh.id)
		}
		time.Sleep(20 * time.Millisecond) // polling Redis, the only place the purchase shows
	}
}

// settle waits until both queues hold nothing pending, running, scheduled
// or waiting to retry, twice in a row. Tasks of a killed worker stay
// "active" until asynq's recoverer finds their lease expired (30 s lease,
// checked every minute), so this can take two minutes after the last kill.
func (h *harness) settle(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	quiet := 0
	for {
		busy, err := worker.Outstanding(context.Background(), h.rdb, "ba:") // the service's default redis.prefix
		if err != nil {
			busy = -1
		}
		if busy == 0 {
			quiet++
			if quiet == 2 {
				return nil
			}
		} else {
			quiet = 0
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("queues not empty after %s (%d tasks left)", limit, busy)
		}
		time.Sleep(time.Second) // polling asynq's queues: it has no "idle" signal
	}
}
