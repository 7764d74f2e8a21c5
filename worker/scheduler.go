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
	"github.com/basketassist/basketassist/replication"
)

// scheduler queues due reminders and deletes queued ones (waiting ones
// are in basket's due index).
type scheduler struct {
	rdb       redis.UniversalClient
	client    *asynq.Client
	inspector *asynq.Inspector
	maxRetry  int
	// wait confirms each queued task (replication.Wait.Confirm, its fence
	// key under prefix): a task left on a primary that a failover demotes
	// would take its reminders with it.
	wait   replication.Wait
	prefix string
}

func newScheduler(rdb redis.UniversalClient, maxRetry int, wait replication.Wait, prefix string) *scheduler {
	return &scheduler{rdb: rdb, client: asynq.NewClientFromRedisClient(rdb), inspector: asynq.NewInspectorFromRedisClient(rdb),
		maxRetry: maxRetry, wait: wait, prefix: prefix}
}

// queue runs enqueue, a write of a task to the email queue, confirmed by
// the replicas asked for.
func (s *scheduler) queue(ctx context.Context, enqueue func() error) error {
	return s.wait.Confirm(ctx, s.rdb, fenceKey(s.prefix, QueueEmail), enqueue)
}

// fenceKey is the key replication.Wait.Confirm writes to confirm a task
// queued in queue: it shares the queue's hash tag (asynq's keys are
// "asynq:{<queue>}:…"), so that on Redis Cluster it lands on their node.
func fenceKey(prefix, queue string) string { return prefix + "fence:{" + queue + "}" }

// enqueue queues a due reminder to run now, as its own task. A task that
// already exists with its id is left as it is: ids name one step of one
// basket version, so it is the same reminder.
func (s *scheduler) enqueue(ctx context.Context, r basket.Reminder) error {
	return s.enqueueAlone(ctx, payloadOf(r), 0, s.maxRetry)
}

// enqueueBatch queues due reminders to run now as one reminders:send task.
// The task's id is asynq's own (random): a batch taken again after a lease
// ran out is a new one, and the step claims keep a reminder in two batches
// from going out twice.
func (s *scheduler) enqueueBatch(ctx context.Context, rs []basket.Reminder) error {
	p := remindersPayload{Reminders: make([]reminderPayload, len(rs))}
	for i, r := range rs {
		p.Reminders[i] = payloadOf(r)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode reminders: %w", err)
	}
	err = s.queue(ctx, func() error {
		_, err := s.client.EnqueueContext(ctx, asynq.NewTask(TypeSendReminders, b), asynq.Queue(QueueEmail),
			asynq.MaxRetry(s.maxRetry), asynq.Timeout(5*time.Minute))
		return err
	})
	if err != nil {
		return fmt.Errorf("queue %d reminders from %s: %w", len(rs), rs[0].Task, err)
	}
	return nil
}

// enqueueAlone queues p as its own reminder:send task to run after delay.
func (s *scheduler) enqueueAlone(ctx context.Context, p reminderPayload, delay time.Duration, maxRetry int) error {
	id := basket.TaskID(p.Storefront, p.BasketID, p.Step, p.Version)
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode reminder: %w", err)
	}
	err = s.queue(ctx, func() error {
		_, err := s.client.EnqueueContext(ctx, asynq.NewTask(TypeSendReminder, b), asynq.TaskID(id),
			asynq.Queue(QueueEmail), asynq.MaxRetry(maxRetry), asynq.Timeout(2*time.Minute), asynq.ProcessIn(delay))
		if errors.Is(err, asynq.ErrTaskIDConflict) {
			return nil // the same reminder, queued already
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("queue %s: %w", id, err)
	}
	return nil
}

// continueAlone gives a reminder that did not end in its batch a task of
// its own, where it goes on as if it had been one from the start: deferred
// to its instant (no retry spent), retried after retryBase (its first
// retry; the relay's refusals too), or, for a reminder that cannot be
// built (a template's fault), archived at once so that an operator can run
// it again from asynqmon once it is fixed. An archived one carries no error text in
// asynqmon (asynq records text only for a run that failed); the worker's
// log line says why.
func (s *scheduler) continueAlone(ctx context.Context, p reminderPayload, cause error, retryBase time.Duration) error {
	var d *Deferred
	switch {
	case errors.As(cause, &d):
		return s.enqueueAlone(ctx, p, d.delay(), s.maxRetry)
	case errors.Is(cause, asynq.SkipRetry):
		// Held a day, then archived: should archiving fail, the task
		// simply runs then, as a late retry.
		if err := s.enqueueAlone(ctx, p, 24*time.Hour, s.maxRetry); err != nil {
			return err
		}
		id := basket.TaskID(p.Storefront, p.BasketID, p.Step, p.Version)
		if err := s.inspector.ArchiveTask(QueueEmail, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return fmt.Errorf("archive %s: %w", id, err)
		}
		return nil
	}
	p.Tried++ // the batch's attempt was its first
	return s.enqueueAlone(ctx, p, retryBase, max(s.maxRetry-1, 0))
}

func payloadOf(r basket.Reminder) reminderPayload {
	return reminderPayload{Storefront: r.Storefront, BasketID: r.BasketID, Step: r.Step, Version: r.Version, Due: r.Due}
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
