package worker

import (
	"context"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/basketassist/basketassist/basket"
)

// Outstanding counts the work not yet done: reminders waiting in the due
// index (redis.prefix prefix) and tasks pending, running, scheduled or
// waiting to retry in either queue. Zero means nothing more can be sent
// until new events arrive.
func Outstanding(ctx context.Context, rdb redis.UniversalClient, prefix string) (int, error) {
	n, err := rdb.ZCard(ctx, basket.DueIndexKey(prefix)).Result()
	if err != nil {
		return 0, err
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	queues, err := insp.Queues() // a queue exists once a task was queued in it
	if err != nil {
		return 0, err
	}
	total := int(n)
	for _, q := range queues {
		info, err := insp.GetQueueInfo(q)
		if err != nil {
			return 0, err
		}
		total += info.Pending + info.Active + info.Scheduled + info.Retry
	}
	return total, nil
}
