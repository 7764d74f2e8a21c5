// Package replication makes the writes that a promise rests on survive a
// Redis failover. Redis replicates asynchronously: a primary that dies can
// take its last writes with it, and the replica promoted in its place never
// saw them. Two writes must not be lost that way: the hand-over of a
// reminder (lost, a retry would send the email again) and a suppression
// entry (lost, an acknowledged unsubscribe would be forgotten). After each,
// Wait blocks until enough replicas have it (Redis WAIT) and fails if
// they do not, so the caller neither hands the email over nor acknowledges
// the unsubscribe.
package replication

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotReplicated says fewer replicas than required confirmed a write in
// time. The write may still be on the primary; the caller must act as if
// it had failed.
var ErrNotReplicated = errors.New("not confirmed by enough Redis replicas")

// Wait is how many replicas must confirm a write, and for how long to wait.
// The zero value waits for none: a single Redis, made durable by its
// append-only file (appendfsync always).
type Wait struct {
	Replicas int
	Timeout  time.Duration // 0 means 1 s
}

// Pipelined runs the commands fn queues and then, when w asks for
// replicas, WAIT, in one pipeline: one connection and one round trip. WAIT
// counts the writes of its own connection, so it must share the write's.
// The error is the first command's error, else ErrNotReplicated (wrapped)
// when too few replicas confirmed; each queued command keeps its own reply.
func (w Wait) Pipelined(ctx context.Context, rdb redis.UniversalClient, fn func(redis.Pipeliner)) error {
	pipe := rdb.Pipeline()
	fn(pipe)
	var wait *redis.Cmd
	if w.Replicas > 0 {
		wait = pipe.Do(ctx, "WAIT", w.Replicas, w.timeout().Milliseconds())
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	if wait == nil {
		return nil
	}
	if n, _ := wait.Int64(); int(n) < w.Replicas {
		return fmt.Errorf("%w: %d of %d within %s", ErrNotReplicated, n, w.Replicas, w.timeout())
	}
	return nil
}

// Script runs script like redis.Script.Run (EVALSHA, then EVAL if Redis
// lost the script) followed by WAIT, as Pipelined does. The script's reply
// or error is in the returned command; the error returned is the script's
// or ErrNotReplicated.
func (w Wait) Script(ctx context.Context, rdb redis.UniversalClient, script *redis.Script, keys []string, args ...any) (*redis.Cmd, error) {
	var cmd *redis.Cmd
	err := w.Pipelined(ctx, rdb, func(p redis.Pipeliner) { cmd = script.EvalSha(ctx, p, keys, args...) })
	if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		err = w.Pipelined(ctx, rdb, func(p redis.Pipeliner) { cmd = script.Eval(ctx, p, keys, args...) })
	}
	return cmd, err
}

func (w Wait) timeout() time.Duration {
	if w.Timeout <= 0 {
		return time.Second
	}
	return w.Timeout
}
