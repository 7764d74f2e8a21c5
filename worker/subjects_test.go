package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/internal/redistest"
)

// TestForgetDeletesRemindersInEveryState puts one person's reminders in
// every place one can be (waiting in the due index, and in asynq retry,
// pending, archived, with an archived task of an older version) and checks
// that Forget deletes every one.
func TestForgetDeletesRemindersInEveryState(t *testing.T) {
	t.Parallel()
	rdb := redistest.Private(t) // asynq's keys are per database: keep them to this test
	b := setupWorker(t, rdb, time.Hour)
	ctx := context.Background()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	dispatch := func() {
		// One task per reminder, as continuations of a batch are.
		_, err := NewDispatcher(rdb, b.h.Baskets, DispatcherOptions{PerTask: 1}).Once(ctx)
		require.NoError(t, err)
	}
	due := b.now.Add(-2 * time.Hour) // step 1 (an hour) is due

	// Retry: a server whose handler fails once leaves the task waiting an hour.
	require.NoError(t, b.h.ApplyEvents(ctx, b.applyTask(t, "retry", "r1", due)))
	dispatch()
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{Queues: map[string]int{QueueEmail: 1}, Concurrency: 1,
		RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return time.Hour }, LogLevel: asynq.FatalLevel})
	require.NoError(t, srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return errors.New("smtp 451") })))
	retried := assert.Eventually(t, func() bool {
		tasks, err := insp.ListRetryTasks(QueueEmail)
		return err == nil && len(tasks) == 1
	}, 10*time.Second, 10*time.Millisecond)
	srv.Shutdown()
	require.True(t, retried)

	apply := func(basketID, eventID string, at time.Time) {
		require.NoError(t, b.h.ApplyEvents(ctx, b.applyTask(t, basketID, eventID, at)))
	}
	apply("sched", "s1", b.now) // waits in the due index
	apply("pend", "p1", due)
	apply("arch", "a1", due)
	dispatch() // both due: pending in asynq
	require.NoError(t, insp.ArchiveTask(QueueEmail, "remind:pink:arch:s1:v1"))
	// An older version's task left behind: it was running when the update
	// came, so the update could not delete it, and then failed for good.
	apply("old", "o1", b.now)
	apply("old", "o2", b.now.Add(time.Minute))
	_, err := asynq.NewClientFromRedisClient(rdb).Enqueue(reminderTask("old", 1, 1), asynq.TaskID("remind:pink:old:s1:v1"), asynq.Queue(QueueEmail))
	require.NoError(t, err)
	require.NoError(t, insp.ArchiveTask(QueueEmail, "remind:pink:old:s1:v1"))

	ann := b.keys.Recipient("ann@example.com")
	_, err = b.h.Suppressions.SoftBounce(ctx, ann, 3) // a soft-bounce streak: a record of sends
	require.NoError(t, err)
	before, _ := rdb.Keys(ctx, "*soft:*").Result()
	require.Len(t, before, 1)

	subjects := NewSubjects(rdb, b.h.Baskets, b.h.Suppressions, nil)
	rep, err := subjects.Forget(ctx, ann)
	require.NoError(t, err)
	after, _ := rdb.Keys(ctx, "*soft:*").Result()
	assert.Empty(t, after, "the soft-bounce streak is erased")
	assert.Equal(t, 5, rep.Baskets)
	assert.Equal(t, 6, rep.RemindersCancelled)
	assert.Equal(t, map[string]int{"retry": 1, "scheduled": 2, "pending": 1, "archived": 2}, rep.RemindersByState)
	assert.Zero(t, rep.RemindersRunning)

	waiting, err := b.h.Baskets.Waiting(ctx)
	require.NoError(t, err)
	assert.Zero(t, waiting, "nothing of theirs waits in the due index")
	for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
		insp.ListScheduledTasks, insp.ListPendingTasks, insp.ListRetryTasks, insp.ListArchivedTasks,
	} {
		tasks, err := list(QueueEmail)
		require.NoError(t, err)
		assert.Empty(t, tasks)
	}
}

// A reminder running while its person is forgotten cannot be deleted: the
// report counts it apart, and it finds the basket gone and sends nothing.
func TestForgetReportsARunningReminder(t *testing.T) {
	t.Parallel()
	rdb := redistest.Private(t)
	b := setupWorker(t, rdb, time.Hour)
	ctx := context.Background()
	b.due(t, "b1")
	_, err := asynq.NewClientFromRedisClient(rdb).Enqueue(reminderTask("b1", 1, 1), asynq.TaskID("remind:pink:b1:s1:v1"), asynq.Queue(QueueEmail))
	require.NoError(t, err)
	require.NoError(t, b.h.Baskets.Dispatched(ctx, "remind:pink:b1:s1:v1"), "queued, as a dispatcher leaves it")
	started, proceed := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{Queues: map[string]int{QueueEmail: 1}, Concurrency: 1, LogLevel: asynq.FatalLevel})
	require.NoError(t, srv.Start(asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		close(started)
		<-proceed // the erasure happens here, before the claim
		err := b.h.SendReminder(ctx, task)
		done <- err
		return err
	})))
	defer srv.Shutdown()
	<-started

	rep, err := NewSubjects(rdb, b.h.Baskets, b.h.Suppressions, nil).Forget(ctx, b.keys.Recipient("ann@example.com"))
	require.NoError(t, err)
	assert.Equal(t, 1, rep.RemindersRunning)
	assert.Zero(t, rep.RemindersCancelled, "a running task cannot be deleted")
	close(proceed)
	require.NoError(t, <-done, "the basket is gone: a drop, not a failure")
	assert.Empty(t, b.smtp.Messages())
}
