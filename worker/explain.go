package worker

import (
	"context"
	"errors"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/basketassist/basketassist/basket"
)

// Explainer answers "why did I (not) get this email?" for one basket: its
// state and decision record, and when its reminder is due, from the due
// index or, once due or deferred, the queue.
type Explainer struct {
	baskets   *basket.Store
	inspector *asynq.Inspector
}

// NewExplainer returns an Explainer reading rdb's queues.
func NewExplainer(rdb redis.UniversalClient, baskets *basket.Store) *Explainer {
	return &Explainer{baskets: baskets, inspector: asynq.NewInspectorFromRedisClient(rdb)}
}

// Explain returns the basket's explanation; basket.ErrNoBasket if unknown.
func (e *Explainer) Explain(ctx context.Context, storefront, basketID string) (basket.Explanation, error) {
	ex, err := e.baskets.Explain(ctx, storefront, basketID)
	if err != nil || ex.Task == nil {
		return ex, err
	}
	if due, ok, err := e.baskets.DueAt(ctx, *ex.Task); err != nil || ok {
		if ok {
			ex.NextDue = &due
		}
		return ex, err
	}
	info, err := e.inspector.GetTaskInfo(QueueEmail, *ex.Task)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		return ex, nil // sent, dropped, or running: the record says
	case err != nil:
		return ex, err
	}
	ex.TaskState = info.State.String()
	if !info.NextProcessAt.IsZero() && info.State != asynq.TaskStateArchived {
		due := info.NextProcessAt.UTC()
		ex.NextDue = &due
	}
	return ex, nil
}
