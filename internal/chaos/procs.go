package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// proc is a child process that can be killed with SIGKILL and started again
// with the same command line, its output appended to one log file.
type proc struct {
	name string
	args []string
	log  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); _ = f.Close(); close(done) }()
	p.cmd, p.done = cmd, done
	return nil
}

// signal sends sig and waits for the process to exit.
func (p *proc) signal(sig syscall.Signal, wait time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(wait):
		_ = cmd.Process.Kill()
		<-done
	}
}

func (p *proc) kill9() { p.signal(syscall.SIGKILL, time.Minute) }

// stop asks for a clean shutdown (in-flight sends finish), then kills.
func (p *proc) stop() { p.signal(syscall.SIGTERM, 40*time.Second) }

// redisServer is a throwaway redis-server on a fixed loopback port and data
// directory, so that a restart finds its append-only file again.
type redisServer struct {
	proc
	addr string
}

// startRedis starts a redis-server named name, keeping its files in a
// folder of its own under dir (a replica writes what it receives to
// dump.rdb), with extra arguments (--replicaof).
func startRedis(dir, name, appendfsync string, extra ...string) (*redisServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, name)
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	rs := &redisServer{addr: "127.0.0.1:" + strconv.Itoa(port)}
	rs.proc = proc{name: name, log: filepath.Join(dir, name+".log"), args: append([]string{"redis-server",
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", data, "--save", "",
		"--appendonly", "yes", "--appendfsync", appendfsync}, extra...)}
	return rs, rs.restart()
}

// startSentinel starts a Sentinel monitoring primary as master (quorum 1:
// it is the only one), declaring it down after a second of silence.
func startSentinel(dir, master string, primary *redisServer) (*redisServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	host, pport, _ := net.SplitHostPort(primary.addr)
	conf := filepath.Join(dir, "sentinel.conf") // Sentinel rewrites it: a file of its own
	body := fmt.Sprintf("sentinel monitor %s %s %s 1\nsentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 10000\n",
		master, host, pport, master, master)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return nil, err
	}
	rs := &redisServer{addr: "127.0.0.1:" + strconv.Itoa(port)}
	rs.proc = proc{name: "sentinel", log: filepath.Join(dir, "sentinel.log"), args: []string{"redis-server", conf, "--sentinel",
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir}}
	return rs, rs.restart()
}

// restart starts redis-server and waits until it answers, its data loaded.
func (rs *redisServer) restart() error {
	if err := rs.start(); err != nil {
		return err
	}
	rdb := redis.NewClient(&redis.Options{Addr: rs.addr, MaxRetries: -1})
	defer rdb.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := rdb.Ping(context.Background()).Err()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on %s did not come up: %w", rs.addr, err)
		}
		time.Sleep(50 * time.Millisecond) // polling a child process that has no readiness signal
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// fleet is the service under test: one web process and several workers.
type fleet struct {
	web     *proc
	workers []*proc
}

func startFleet(bin, config, dir string, workers int) (*fleet, error) {
	f := &fleet{web: &proc{name: "web", log: filepath.Join(dir, "web.log"),
		args: []string{bin, "--config", config, "web"}}}
	for i := range workers {
		f.workers = append(f.workers, &proc{name: "worker-" + strconv.Itoa(i+1),
			log: filepath.Join(dir, "worker-"+strconv.Itoa(i+1)+".log"), args: []string{bin, "--config", config, "worker"}})
	}
	for _, p := range append([]*proc{f.web}, f.workers...) {
		if err := p.start(); err != nil {
			f.stop()
			return nil, err
		}
	}
	return f, nil
}

func (f *fleet) stop() {
	var wg sync.WaitGroup
	for _, p := range append([]*proc{f.web}, f.workers...) {
		wg.Go(p.stop)
	}
	wg.Wait()
}

func (f *fleet) logs() []string {
	out := []string{f.web.log}
	for _, w := range f.workers {
		out = append(out, w.log)
	}
	return out
}
