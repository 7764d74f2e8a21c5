package main

import (
	"context"
	"crypto/sha256"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/internal/redistest"
)

func TestCPUTimeReadsThisProcess(t *testing.T) {
	before := cpuTime(os.Getpid())
	sum := sha256.Sum256(nil)
	// Work until the kernel has counted at least one tick (10 ms) more,
	// with a deadline rather than a fixed amount of work.
	for deadline := time.Now().Add(10 * time.Second); cpuTime(os.Getpid()) <= before; {
		if time.Now().After(deadline) {
			t.Fatalf("cpuTime stayed at %v while this process worked", before)
		}
		for range 10_000 {
			sum = sha256.Sum256(sum[:])
		}
	}
}

func TestCPUTimeOfNoProcessIsZero(t *testing.T) {
	if got := cpuTime(0); got != 0 {
		t.Errorf("cpuTime(0) = %v, want 0", got)
	}
	if got := cpuTime(1 << 30); got != 0 { // above pid_max
		t.Errorf("cpuTime of a missing process = %v, want 0", got)
	}
}

func TestCPUSplitPerReminder(t *testing.T) {
	s := cpuSplit{service: 400 * time.Millisecond, redis: 100 * time.Millisecond, bench: 200 * time.Millisecond,
		reminders: 1000, clock: cpuClock{service: 1, redis: 2}}
	if got, want := s.String(), "service 400 + redis-server 100 + bench process 200 = 700 µs"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	base := cpuSplit{bench: 200 * time.Millisecond, reminders: 1000}
	if got, want := base.String(), "bench process 200 = 200 µs"; got != want {
		t.Errorf("without service and redis pids: %q, want %q", got, want)
	}
}

func TestAddCommandsCountsScripts(t *testing.T) {
	rdb := redistest.Private(t)
	ctx := context.Background()
	script := redis.NewScript(`redis.call('SET', KEYS[1], 'x'); return redis.call('GET', KEYS[1])`)
	require.NoError(t, script.Load(ctx, rdb).Err()) // no NOSCRIPT round below
	require.NoError(t, rdb.ConfigResetStat(ctx).Err())
	for range 2 {
		require.NoError(t, script.Run(ctx, rdb, []string{"k"}).Err())
	}
	var s cpuSplit
	s.addCommands(ctx, rdb)
	assert.EqualValues(t, 2, s.scripts, "two script runs (EVAL or EVALSHA)")
	assert.GreaterOrEqual(t, s.commands, int64(2+4), "the scripts and the SET and GET inside each")
	assert.Positive(t, s.scriptTime)
}
