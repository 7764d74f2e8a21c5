package worker

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/internal/logtest"
	"github.com/basketassist/basketassist/internal/redistest"
)

// A reminder waits in the due index until its millisecond, then is queued
// once, with its exact due time; a dispatcher that died holding it loses
// it only until its lease ends.
func TestDispatcherQueuesRemindersAtTheirMillisecond(t *testing.T) {
	t.Parallel()
	rdb := redistest.Private(t)
	b := setupWorker(t, rdb, time.Hour)
	ctx := context.Background()
	at := time.Date(2026, 12, 4, 10, 0, 0, 250_000_000, time.UTC)
	require.NoError(t, b.h.ApplyEvents(ctx, b.applyTask(t, "b:1", "e1", at)))
	due := at.Add(time.Hour)
	now := due.Add(-time.Millisecond)
	d := NewDispatcher(rdb, b.h.Baskets, DispatcherOptions{Now: func() time.Time { return now }, Lease: time.Minute})
	insp := asynq.NewInspectorFromRedisClient(rdb)

	n, err := d.Once(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "a millisecond early: nothing")
	left, err := Outstanding(ctx, rdb, "ba:")
	require.NoError(t, err)
	assert.Equal(t, 1, left, "outstanding: waiting in the due index")

	// A dispatcher takes it and dies before queueing it.
	now = due
	taken, err := b.h.Baskets.TakeDue(ctx, now, 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, taken, 1)
	assert.Equal(t, basket.Reminder{Task: "remind:pink:b:1:s1:v1", Storefront: "pink", BasketID: "b:1", Step: 1, Version: 1, Due: due}, taken[0])
	n, err = d.Once(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "leased: no second dispatcher takes it")

	now = due.Add(time.Minute)
	n, err = d.Once(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the lease ended: it is due again")
	info, err := insp.GetTaskInfo(QueueEmail, "remind:pink:b:1:s1:v1")
	require.NoError(t, err)
	assert.Equal(t, asynq.TaskStatePending, info.State)
	var p reminderPayload
	require.NoError(t, json.Unmarshal(info.Payload, &p))
	assert.Equal(t, reminderPayload{Storefront: "pink", BasketID: "b:1", Step: 1, Version: 1, Due: due.Add(time.Minute)}, p,
		"never early: a reminder queued after a lease carries the later time")
	waiting, err := b.h.Baskets.Waiting(ctx)
	require.NoError(t, err)
	assert.Zero(t, waiting)
	left, err = Outstanding(ctx, rdb, "ba:")
	require.NoError(t, err)
	assert.Equal(t, 1, left, "outstanding: pending in the email queue")

	// Queued twice (a dispatcher that queued it, then died before removing
	// it): one task.
	require.NoError(t, d.sched.enqueue(ctx, taken[0]))
	pending, err := insp.ListPendingTasks(QueueEmail)
	require.NoError(t, err)
	assert.Len(t, pending, 1)
}

func TestParseTaskID(t *testing.T) {
	t.Parallel()
	r, err := basket.ParseTaskID(basket.TaskID("pink", "b:42:s9:v9", 2, 17))
	require.NoError(t, err)
	assert.Equal(t, basket.Reminder{Task: "remind:pink:b:42:s9:v9:s2:v17", Storefront: "pink", BasketID: "b:42:s9:v9", Step: 2, Version: 17}, r)
	for _, bad := range []string{"", "remind:", "remind:pink", "remind:pink:b", "remind:pink:b:s1", "remind:pink:b:sx:v1", "other:pink:b:s1:v1"} {
		_, err := basket.ParseTaskID(bad)
		assert.Error(t, err, bad)
	}
}

// While Redis cannot be reached the dispatcher keeps trying, backing off,
// and says so once, not at every poll.
func TestDispatcherLogsAnOutageOnce(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer rdb.Close()
	trips := &atomic.Int64{}
	rdb.AddHook(tripCounter{trips})
	var logs logtest.Buffer
	d := NewDispatcher(rdb, basket.NewStore(rdb, nil, basket.StoreOptions{}), DispatcherOptions{Poll: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	require.Eventually(t, func() bool { return trips.Load() >= 5 }, 10*time.Second, time.Millisecond, "it keeps trying")
	cancel()
	<-done
	assert.Equal(t, 1, strings.Count(logs.String(), "cannot dispatch due reminders"), logs.String())
}
