package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// service is one `basketassist serve` process (web and worker in one, as a
// small install runs it), started fresh for each measurement so that its
// peak RSS belongs to that measurement alone.
type service struct {
	cmd  *exec.Cmd
	done chan struct{}
	url  string
}

// settings are what a measurement varies; everything else is the default
// configuration.
type settings struct {
	after        time.Duration // the one reminder step
	pollInterval time.Duration // 0: the default
	concurrency  int           // worker.concurrency; 0: concurrency
}

// writeConfig writes the service's configuration. Only what a benchmark
// needs differs from the defaults: one step, no quiet hours or cap (the
// benchmark sends whenever it runs), a rate limit far above the load, 4
// SMTP connections (-connections) and errors-only logs.
func (b *bench) writeConfig(s settings) (string, error) {
	poll := ""
	if s.concurrency == 0 {
		s.concurrency = concurrency
	}
	if s.pollInterval > 0 {
		poll = fmt.Sprintf(", poll_interval: %s", s.pollInterval)
	}
	yaml := strings.Join([]string{
		`redis: {addr: "` + b.redisAddr + `"}`,
		fmt.Sprintf(`smtp: {host: "127.0.0.1", port: %d, connections: %d, tls: none}`, b.sink.port(), b.connections),
		`web: {listen: "` + b.webAddr + `", ops_listen: "` + b.webAddr + `", public_url: "http://` + b.webAddr + `", admin_token: "` + b.admin + `"}`,
		`secrets: {key: "` + b.secret + `"}`,
		fmt.Sprintf(`worker: {concurrency: %d%s}`, s.concurrency, poll),
		fmt.Sprintf(`reminders: {steps: [{after: %s}]}`, s.after),
		`policy: {quiet_hours: {start: "", end: ""}, frequency_cap: {max: 0}}`,
		`log: {level: error, format: json}`,
		`storefronts:`,
		`  - id: bench`,
		`    name: Bench Shirts`,
		`    from: "Bench Shirts <hello@bench.example>"`,
		`    api_key: "` + b.apiKey + `"`,
		`    basket_url: "https://bench.example/basket/{basket_id}"`,
		`    postal_address: "1 Bench Street, London"`,
		`    default_locale: en-GB`,
		`    rate_limit: {events_per_second: 1000000, burst: 1000000}`,
		``,
	}, "\n")
	path := filepath.Join(b.dir, "basketassist.yaml")
	return path, os.WriteFile(path, []byte(yaml), 0o600)
}

func (b *bench) startService(s settings) (*service, error) {
	path, err := b.writeConfig(s)
	if err != nil {
		return nil, err
	}
	log, err := os.OpenFile(filepath.Join(b.dir, "service.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(b.bin, "--config", path, "serve")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	svc := &service{cmd: cmd, done: make(chan struct{}), url: "http://" + b.webAddr}
	go func() { _ = cmd.Wait(); log.Close(); close(svc.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(svc.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return svc, nil
			}
		}
		select {
		case <-svc.done:
			return nil, fmt.Errorf("basketassist serve exited at start (see %s)", log.Name())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			svc.stop()
			return nil, fmt.Errorf("basketassist serve not healthy after 20 s")
		}
	}
}

// stop ends the service gracefully and waits for it.
func (s *service) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(60 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// memory reads the service's peak and current resident set, in MB.
func (s *service) memory() (peak, now float64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		name, value, _ := strings.Cut(line, ":")
		kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 64)
		switch name {
		case "VmHWM":
			peak = kb / 1024
		case "VmRSS":
			now = kb / 1024
		}
	}
	return peak, now
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randomKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// waitFor polls cond every 2 ms until it holds or the deadline passes.
func waitFor(ctx context.Context, limit time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not done after %s", what, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}
