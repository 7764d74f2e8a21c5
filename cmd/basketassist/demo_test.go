package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/internal/smtptest"
)

func TestDemoRunsEndToEndAndReconciles(t *testing.T) {
	t.Parallel()
	outbox := t.TempDir()
	cfgPath := filepath.Join(t.TempDir(), "demo.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte("outbox: {dir: "+outbox+"}\n"), 0o600))

	out, _, err := runCLI(t, "", "--config", cfgPath, "demo", "--baskets", "12", "--exit", "--listen", "127.0.0.1:0")
	require.NoError(t, err, out)
	// 12 shoppers of 9 kinds: two buyers, abandoners and shoppers without
	// email; one of each other kind. Abandoners get both steps;
	// unsubscribers, returners and complainers step 1 only; the bouncing
	// address is refused after DATA and gets nothing; the sleeper's
	// reminder is deferred to their morning.
	assert.Regexp(t, regexp.MustCompile(`emails sent, step 1 \(expected 5\)\s+5\n`), out)
	assert.Regexp(t, regexp.MustCompile(`emails sent, step 2 \(expected 2\)\s+2\n`), out)
	assert.Regexp(t, regexp.MustCompile(`skipped: suppressed\s+2\n`), out, "step 2 of the unsubscriber and the complainer")
	assert.Regexp(t, regexp.MustCompile(`bounced after DATA, 5.1.1 \(expected 1\)\s+1\n`), out)
	assert.Regexp(t, regexp.MustCompile(`spam complaints \(feedback loop\)\s+1\n`), out)
	assert.Regexp(t, regexp.MustCompile(`deferred: quiet hours \(expected 1\)\s+1\n`), out)
	assert.Regexp(t, regexp.MustCompile(`unsubscribes \(one-click\)\s+1\n`), out)
	assert.Regexp(t, regexp.MustCompile(`orders after a reminder\s+1\n`), out)
	assert.Regexp(t, regexp.MustCompile(`duplicate emails\s+0\n`), out)
	assert.Contains(t, out, "reconciles: yes")

	files, err := filepath.Glob(filepath.Join(outbox, "*.eml"))
	require.NoError(t, err)
	assert.Len(t, files, 7, "every email the summary counts is in the outbox")
}

// A demo against a configured (shared) Redis must reconcile run after run:
// nothing of the first run may leak into the second.
func TestDemoTwiceOnTheSameRedis(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, smtptest.Start(t))
	path := writeYAML(t, cfg)
	for run := 1; run <= 2; run++ {
		out, _, err := runCLI(t, "", "--config", path, "demo", "--baskets", "6", "--exit", "--listen", "127.0.0.1:0")
		require.NoError(t, err, "run %d: %s", run, out)
		assert.Contains(t, out, "reconciles: yes", "run %d", run)
	}
}

// A demo refuses a Redis database that holds anything (a live one's
// baskets, suppressions and due reminders would mix with its shoppers),
// touches nothing there, and empties the database it used when it ends.
func TestDemoNeedsAnEmptyRedisDatabase(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, smtptest.Start(t))
	path := writeYAML(t, cfg)
	rdb := redis.NewClient(&redis.Options{Addr: cfg.Redis.Addr, DB: cfg.Redis.DB})
	defer rdb.Close()
	ctx := context.Background()
	require.NoError(t, rdb.Set(ctx, "ba:live", "a customer's data", 0).Err())
	_, _, err := runCLI(t, "", "--config", path, "demo", "--baskets", "6", "--exit", "--listen", "127.0.0.1:0")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "holds 1 key; the demo writes fake shoppers")
	assert.Equal(t, int64(1), rdb.DBSize(ctx).Val(), "nothing written")

	require.NoError(t, rdb.Del(ctx, "ba:live").Err())
	out, _, err := runCLI(t, "", "--config", path, "demo", "--baskets", "6", "--exit", "--listen", "127.0.0.1:0")
	require.NoError(t, err, out)
	assert.Zero(t, rdb.DBSize(ctx).Val(), "the demo's data is gone with it")
}
