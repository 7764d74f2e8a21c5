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

	"github.com/basketassist/basketassist/basket"
)

// scheduler queues due reminders and deletes queued ones (waiting ones
// are in basket's due index).
type scheduler struct {
	rdb       redis.UniversalClient
	client    *asynq.Client
	inspector *asynq.Inspector
	maxRetry  int
}

func newScheduler(rdb redis.UniversalClient, maxRetry int) *scheduler {
	return &scheduler{rdb: rdb, client: asynq.NewClientFromRedisClient(rdb), inspector: asynq.NewInspectorFromRedisClient(rdb), maxRetry: maxRetry}
}

// enqueue queues a due reminder to run now. A task that already exists
// with its id is left as it is: ids name one step of one basket version,
// so it is the same reminder (a second dispatch after a lease ran out).
func (s *scheduler) enqueue(ctx context.Context, r basket.Reminder) error {
	b, err := json.Marshal(reminderPayload{Storefront: r.Storefront, BasketID: r.BasketID, Step: r.Step, Version: r.Version, Due: r.Due})
	if err != nil {
		return fmt.Errorf("encode reminder: %w", err)
	}
	_, err = s.client.EnqueueContext(ctx, asynq.NewTask(TypeSendReminder, b), asynq.TaskID(r.Task),
		asynq.Queue(QueueEmail), asynq.MaxRetry(s.maxRetry), asynq.Timeout(2*time.Minute))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("queue %s: %w", r.Task, err)
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
			cmds[i] = pipe.HGet(ctx, AsynqKey(QueueEmail, "t:"+id), "state")
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
