package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// scheduler creates and deletes reminder tasks.
type scheduler struct {
	rdb       redis.UniversalClient
	client    *asynq.Client
	inspector *asynq.Inspector
	maxRetry  int
}

func newScheduler(rdb redis.UniversalClient, maxRetry int) *scheduler {
	return &scheduler{rdb: rdb, client: asynq.NewClientFromRedisClient(rdb), inspector: asynq.NewInspectorFromRedisClient(rdb), maxRetry: maxRetry}
}

// schedule creates the reminder task id at due time. A task that already
// exists with that id is left as it is: ids name one step of one basket
// version, so it is the same reminder.
func (s *scheduler) schedule(ctx context.Context, id string, p reminderPayload, due time.Time) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode reminder: %w", err)
	}
	_, err = s.client.EnqueueContext(ctx, asynq.NewTask(TypeSendReminder, b), asynq.TaskID(id),
		asynq.Queue(QueueEmail), asynq.ProcessAt(ceilSecond(due)), asynq.MaxRetry(s.maxRetry), asynq.Timeout(2*time.Minute))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("schedule %s: %w", id, err)
	}
	return nil
}

// cancel deletes a reminder task that is no longer wanted. A task that is
// gone or running is left alone: the version check at send time makes it a
// no-op. It costs two Redis round trips (asynq checks the queue first).
func (s *scheduler) cancel(id string) error {
	err := s.inspector.DeleteTask(QueueEmail, id)
	switch {
	case err == nil, errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		return nil
	case strings.Contains(err.Error(), "active state"):
		// asynq has no sentinel for "cannot delete task in active state".
		return nil
	}
	return fmt.Errorf("cancel %s: %w", id, err)
}

// ceilSecond rounds t up to a whole second. asynq keeps due times in whole
// seconds and runs a task once that second has begun, so a due time it is
// given truncated would fire up to a second early.
func ceilSecond(t time.Time) time.Time {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}

// states returns the asynq state (scheduled, pending, retry, archived,
// active) of each of ids that exists, in one pipelined round trip. It
// reads asynq's task hash, "asynq:{<queue>}:t:<id>", field "state" (asynq
// v0.26's layout; TestForgetDeletesRemindersInEveryState fails if it moves).
func (s *scheduler) states(ctx context.Context, ids []string) (map[string]string, error) {
	out := map[string]string{}
	for len(ids) > 0 {
		batch := ids[:min(len(ids), 1000)]
		ids = ids[len(batch):]
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.StringCmd, len(batch))
		for i, id := range batch {
			cmds[i] = pipe.HGet(ctx, "asynq:{"+QueueEmail+"}:t:"+id, "state")
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("read reminder task states: %w", err)
		}
		for i, c := range cmds {
			if st := c.Val(); st != "" {
				out[batch[i]] = st
			}
		}
	}
	return out, nil
}
