// Package redistest gives tests a real Redis: an isolated database on the
// server named by REDIS_ADDR (scripts/test.sh starts one), or a private
// redis-server started for the test process when REDIS_ADDR is unset.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Databases is how many databases the servers started here have; scripts/test.sh uses the same.
const Databases = 2048

var (
	sharedOnce sync.Once
	sharedAddr string
	sharedErr  error
)

// Addr returns the shared server's address, starting one if REDIS_ADDR is unset.
func Addr(t testing.TB) string {
	t.Helper()
	if a := os.Getenv("REDIS_ADDR"); a != "" {
		return a
	}
	sharedOnce.Do(func() { sharedAddr, _, sharedErr = start() })
	if sharedErr != nil {
		t.Fatalf("redistest: REDIS_ADDR is unset and no redis-server could be started: %v (run scripts/test.sh)", sharedErr)
	}
	return sharedAddr
}

// DB reserves a database of its own for the test on the shared server,
// flushes it, and flushes and releases it at cleanup. It returns the address
// and database number, for code that makes its own client from config.
//
// Databases are leased (SET NX in database 0), so two tests never share one,
// even on a server with few databases, where a test waits for a free one.
func DB(t testing.TB) (addr string, db int) {
	t.Helper()
	addr = Addr(t)
	ctl := redis.NewClient(&redis.Options{Addr: addr})
	defer ctl.Close()
	ctx := context.Background()
	total := Databases
	if v, err := ctl.ConfigGet(ctx, "databases").Result(); err == nil {
		if d, err := strconv.Atoi(v["databases"]); err == nil && d > 1 {
			total = d
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		n, err := ctl.Incr(ctx, "redistest:next-db").Result()
		if err != nil {
			t.Fatalf("redistest: reserve a database on %s: %v", addr, err)
		}
		db = 1 + int(n-1)%(total-1) // database 0 keeps the counter and the leases
		lease := "redistest:lease:" + strconv.Itoa(db)
		ok, err := ctl.SetNX(ctx, lease, os.Getpid(), 10*time.Minute).Result()
		if err != nil {
			t.Fatalf("redistest: lease database %d on %s: %v", db, addr, err)
		}
		if ok {
			flush := func() {
				c := redis.NewClient(&redis.Options{Addr: addr, DB: db})
				defer c.Close()
				_ = c.FlushDB(context.Background()).Err()
			}
			flush()
			t.Cleanup(func() {
				flush()
				c := redis.NewClient(&redis.Options{Addr: addr})
				defer c.Close()
				_ = c.Del(context.Background(), lease).Err()
			})
			return addr, db
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: no free database on %s within 2 minutes (it has %d)", addr, total)
		}
		if int(n)%(total-1) == 0 {
			time.Sleep(50 * time.Millisecond) // every database was busy: wait for a test to finish
		}
	}
}

// Client returns a client on a fresh database of its own (see DB).
func Client(t testing.TB) *redis.Client {
	t.Helper()
	addr, db := DB(t)
	c := redis.NewClient(&redis.Options{Addr: addr, DB: db})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Private starts a redis-server used by this test alone, for tests that read
// server-wide statistics (INFO commandstats). It is stopped at cleanup.
func Private(t testing.TB) *redis.Client {
	t.Helper()
	addr, stop, err := start()
	if err != nil {
		t.Fatalf("redistest: start a private redis-server: %v", err)
	}
	t.Cleanup(stop)
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Replicated starts a private primary and a replica of it, and returns the
// primary's address and a client on each, once the replica is in sync.
// Both are stopped at cleanup.
func Replicated(t testing.TB) (primaryAddr string, primary, replica *redis.Client) {
	t.Helper()
	// Each in a folder of its own: a replica writes what it receives to
	// dump.rdb, which any later server in the same folder would load, and
	// after a failover (Sentinel) the primary is a replica too.
	primaryAddr, stopPrimary, err := start("--repl-diskless-sync-delay", "0", "--dir", t.TempDir()) // sync the replica at once
	if err != nil {
		t.Fatalf("redistest: start a primary: %v", err)
	}
	t.Cleanup(stopPrimary)
	host, port, _ := net.SplitHostPort(primaryAddr)
	replicaAddr, stopReplica, err := start("--replicaof", host, port, "--dir", t.TempDir())
	if err != nil {
		t.Fatalf("redistest: start a replica: %v", err)
	}
	t.Cleanup(stopReplica)
	primary = redis.NewClient(&redis.Options{Addr: primaryAddr})
	replica = redis.NewClient(&redis.Options{Addr: replicaAddr})
	t.Cleanup(func() { _ = primary.Close(); _ = replica.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := replica.Info(context.Background(), "replication").Result()
		if err == nil && strings.Contains(info, "master_link_status:up") {
			return primaryAddr, primary, replica
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: the replica did not sync with %s within 10 s", primaryAddr)
		}
		time.Sleep(20 * time.Millisecond) // polling the replica's link state; Redis has no event for it
	}
}

// Sentineled is a primary, its replica and a Sentinel monitoring them.
type Sentineled struct {
	Master       string // the name Sentinel knows the primary by
	SentinelAddr string
	Sentinel     *redis.SentinelClient
	PrimaryAddr  string // at the start; Failover swaps the roles
	ReplicaAddr  string
}

// Sentinel starts a private primary and replica (as Replicated) and a
// Sentinel monitoring them as master, and returns them once Sentinel knows
// the replica, so that it can fail over to it. All stop at cleanup.
func Sentinel(t testing.TB, master string) *Sentineled {
	t.Helper()
	primaryAddr, _, replica := Replicated(t)
	s := &Sentineled{Master: master, PrimaryAddr: primaryAddr, ReplicaAddr: replica.Options().Addr}
	host, port, _ := net.SplitHostPort(primaryAddr)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf") // Sentinel rewrites its file: one of its own
	body := fmt.Sprintf("sentinel monitor %s %s %s 1\nsentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 5000\n",
		master, host, port, master, master)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatalf("redistest: write sentinel.conf: %v", err)
	}
	addr, stop, err := launch([]string{conf, "--sentinel"}, "--dir", dir)
	if err != nil {
		t.Fatalf("redistest: start a Sentinel: %v", err)
	}
	t.Cleanup(stop)
	s.SentinelAddr = addr
	s.Sentinel = redis.NewSentinelClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = s.Sentinel.Close() })
	s.await(t, "know the replica", func(ctx context.Context) bool {
		rs, err := s.Sentinel.Replicas(ctx, master).Result()
		return err == nil && len(rs) == 1
	})
	return s
}

// Failover has Sentinel promote the replica, as it would on the primary's
// failure, and returns once Sentinel names the replica as the primary.
func (s *Sentineled) Failover(t testing.TB) {
	t.Helper()
	if err := s.Sentinel.Failover(context.Background(), s.Master).Err(); err != nil {
		t.Fatalf("redistest: SENTINEL FAILOVER %s: %v", s.Master, err)
	}
	s.await(t, "promote the replica", func(ctx context.Context) bool {
		a, err := s.Sentinel.GetMasterAddrByName(ctx, s.Master).Result()
		return err == nil && len(a) == 2 && net.JoinHostPort(a[0], a[1]) == s.ReplicaAddr
	})
}

func (s *Sentineled) await(t testing.TB, what string, done func(context.Context) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !done(context.Background()) {
		if time.Now().After(deadline) {
			t.Fatalf("redistest: Sentinel did not %s within 30 s", what)
		}
		time.Sleep(50 * time.Millisecond) // polling Sentinel's view; its events are on a channel tests need not follow
	}
}

// start runs redis-server on a free loopback port, without persistence,
// with extra arguments. The server dies with the test process (Pdeathsig),
// even if cleanup never runs.
func start(extra ...string) (string, func(), error) {
	return launch(nil, extra...)
}

// launch is start with first placed before every other argument (a
// config file, --sentinel).
func launch(first []string, extra ...string) (string, func(), error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, err
	}
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return "", nil, err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		args := append(append(first, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no",
			"--databases", strconv.Itoa(Databases), "--dir", os.TempDir()), extra...) // later arguments win
		cmd := exec.Command(bin, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return "", nil, err
		}
		stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
		if waitReady(addr, 5*time.Second) {
			return addr, stop, nil
		}
		stop() // the port was taken between freePort and redis-server binding it; try another
	}
	return "", nil, fmt.Errorf("redis-server did not become ready")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(addr string, within time.Duration) bool {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return true
		}
		time.Sleep(20 * time.Millisecond) // polling a starting server, not synchronising test logic
	}
	return false
}
