package replication_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/internal/redistest"
	"github.com/basketassist/basketassist/mail"
	"github.com/basketassist/basketassist/replication"
)

func set(ctx context.Context, key string) func(redis.Pipeliner) {
	return func(p redis.Pipeliner) { p.Set(ctx, key, "v", 0) }
}

func TestWriteWithoutTheReplicasAskedForIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.Private(t) // no replica
	err := replication.Wait{Replicas: 1, Timeout: 20 * time.Millisecond}.Pipelined(ctx, rdb, set(ctx, "k"))
	require.ErrorIs(t, err, replication.ErrNotReplicated)
	assert.Contains(t, err.Error(), "0 of 1")
	assert.Equal(t, "not confirmed by enough Redis replicas", mail.Describe(fmt.Errorf("apply: %w", err)), "logs say it in these words")
	assert.Equal(t, "v", rdb.Get(ctx, "k").Val(), "the primary has the write; only the promise is refused")

	require.NoError(t, replication.Wait{}.Pipelined(ctx, rdb, set(ctx, "k2")), "no replicas asked for: no wait")
}

func TestWriteConfirmedByAReplicaIsOnIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addr, primary, replica := redistest.Replicated(t)
	require.NotEmpty(t, addr)
	w := replication.Wait{Replicas: 1, Timeout: 5 * time.Second}
	require.NoError(t, w.Pipelined(ctx, primary, set(ctx, "k")))
	// WAIT returned only once the replica acknowledged the write, so it is
	// readable there now, with no polling.
	assert.Equal(t, "v", replica.Get(ctx, "k").Val())

	err := replication.Wait{Replicas: 2, Timeout: 20 * time.Millisecond}.Pipelined(ctx, primary, set(ctx, "k"))
	require.ErrorIs(t, err, replication.ErrNotReplicated, "one replica is not two")
}

func TestScriptRunsAfterRedisForgotItAndIsWaitedFor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, primary, replica := redistest.Replicated(t)
	script := redis.NewScript(`redis.call('SET', KEYS[1], ARGV[1]) return 'ok'`)
	require.NoError(t, primary.ScriptFlush(ctx).Err()) // as after a Redis restart: EVALSHA meets NOSCRIPT
	cmd, err := replication.Wait{Replicas: 1, Timeout: 5 * time.Second}.Script(ctx, primary, script, []string{"s"}, "x")
	require.NoError(t, err)
	assert.Equal(t, "ok", cmd.Val())
	assert.Equal(t, "x", replica.Get(ctx, "s").Val())
}

// Confirm vouches for a write made on another connection: it is on the
// replica when Confirm returns, and refused when no replica has it.
func TestConfirmVouchesForAnotherConnectionsWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, primary, replica := redistest.Replicated(t)
	other := redis.NewClient(&redis.Options{Addr: primary.Options().Addr}) // asynq's, say
	defer other.Close()
	w := replication.Wait{Replicas: 1, Timeout: 5 * time.Second}
	require.NoError(t, w.Confirm(ctx, primary, "fence:{q}", func() error { return other.Set(ctx, "task", "v", 0).Err() }))
	assert.Equal(t, "v", replica.Get(ctx, "task").Val(), "confirmed: the replica has it")

	alone := redistest.Private(t)
	err := replication.Wait{Replicas: 1, Timeout: 20 * time.Millisecond}.Confirm(ctx, alone, "fence:{q}", func() error { return nil })
	require.ErrorIs(t, err, replication.ErrNotReplicated)
	ran := false
	require.NoError(t, replication.Wait{}.Confirm(ctx, alone, "fence:{q}", func() error { ran = true; return nil }))
	assert.True(t, ran, "no replicas asked for: the write alone")
}
