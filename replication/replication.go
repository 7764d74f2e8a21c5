// Package replication makes the writes that a promise rests on survive a
// Redis failover. Redis replicates asynchronously: a primary that dies can
// take its last writes with it, and the replica promoted in its place never
// saw them. These must not be lost that way: the hand-over of a reminder
// (lost, a retry would send the email again), a suppression entry (lost, an
// acknowledged unsubscribe would be forgotten), and each step that carries a
// reminder from an accepted ingest request to its hand-over (lost, the
// reminder would never be sent): the queued request, its applied state, the
// reminder handed to the email queue. After each, Wait blocks until enough
// replicas have it (Redis WAIT) and fails if they do not, so the caller
// does not go on as if it had happened.
package replication

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotReplicated says fewer replicas than required confirmed a write in
// time. The write may still be on the primary; the caller must act as if
// it had failed.
var ErrNotReplicated error = fixedWords("not confirmed by enough Redis replicas")

// fixedWords is an error of this package's own words, which logs may show
// as they are (mail.FixedWords).
type fixedWords string

func (f fixedWords) Error() string { return string(f) }
func (fixedWords) FixedWords()     {}

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

// Confirm runs write, a write made on a connection not the caller's (asynq's
// enqueue), and then confirms it as Pipelined confirms its own: it changes
// key on a connection of its own and WAITs for that, replicas applying the
// primary's writes in the order it executed them. That holds only if one
// server took both, and a Sentinel failover can move the client in
// between, leaving the write on a demoted primary that will drop it: so the
// server's run_id is read before write and again beside the WAIT, and a
// change fails with ErrMoved (the write may be lost; have it redone). key
// should share the hash tag of write's keys, so that on Redis Cluster it
// lands on their node. Without replicas asked for, Confirm just runs write.
func (w Wait) Confirm(ctx context.Context, rdb redis.UniversalClient, key string, write func() error) error {
	if w.Replicas <= 0 {
		return write()
	}
	before, err := rdb.Info(ctx, "server").Result()
	if err != nil {
		return err
	}
	if err := write(); err != nil {
		return err
	}
	var after *redis.StringCmd
	err = w.Pipelined(ctx, rdb, func(p redis.Pipeliner) {
		after = p.Info(ctx, "server")
		p.Incr(ctx, key) // a write that always changes something: WAIT waits for the connection's last
		p.Expire(ctx, key, time.Hour)
	})
	if err != nil {
		return err
	}
	if runID(before) != runID(after.Val()) || runID(before) == "" {
		return ErrMoved
	}
	return nil
}

// ErrMoved says Confirm's write and its confirmation reached different
// Redis servers (a failover came between): the write may be lost.
var ErrMoved error = fixedWords("redis primary changed during the write (failover): it may be lost")

// runID reads run_id from INFO server's text.
func runID(info string) string {
	_, rest, ok := strings.Cut(info, "run_id:")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "\r\n")
	return strings.TrimSpace(id)
}

func (w Wait) timeout() time.Duration {
	if w.Timeout <= 0 {
		return time.Second
	}
	return w.Timeout
}
