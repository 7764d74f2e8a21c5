package worker

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/basketassist/basketassist/basket"
)

// Outstanding counts the work not yet done: reminders waiting in the due
// index (redis.prefix prefix) and tasks pending, running, scheduled or
// waiting to retry in either queue. Zero means nothing more can be sent
// until new events arrive.
//
// Work moves between these places (an applied event's reminder joins the
// index as its task completes; a due reminder leaves it for the queue), so
// they are read in one transaction: separate reads could miss a reminder in
// transit. It reads asynq v0.26's key layout (AsynqKey), as states does.
func Outstanding(ctx context.Context, rdb redis.UniversalClient, prefix string) (int, error) {
	pipe := rdb.TxPipeline()
	counts := []*redis.IntCmd{pipe.ZCard(ctx, basket.DueIndexKey(prefix))}
	for _, q := range []string{QueueEvents, QueueEmail} {
		counts = append(counts, pipe.LLen(ctx, AsynqKey(q, "pending")), pipe.LLen(ctx, AsynqKey(q, "active")),
			pipe.ZCard(ctx, AsynqKey(q, "scheduled")), pipe.ZCard(ctx, AsynqKey(q, "retry")))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, err
	}
	total := 0
	for _, c := range counts {
		total += int(c.Val())
	}
	return total, nil
}

// AsynqKey is one of asynq v0.26's keys for queue: "pending", "active",
// "scheduled", "retry" or "t:<task id>" (a task's hash). asynq exports no
// such names; TestForgetDeletesRemindersInEveryState and the settle checks
// fail if the layout moves.
func AsynqKey(queue, name string) string { return "asynq:{" + queue + "}:" + name }
