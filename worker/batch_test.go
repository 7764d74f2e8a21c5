package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/internal/redistest"
	"github.com/basketassist/basketassist/internal/smtptest"
	"github.com/basketassist/basketassist/policy"
	"github.com/basketassist/basketassist/replication"
)

// sentTo returns the baskets of ids whose step 1 was sent, by its claim,
// and checks that the sink received exactly one message for each.
func (b *workerBundle) sentTo(t *testing.T, ids ...string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, id := range ids {
		if b.claim(t, id) == "sent" {
			out[id] = true
		}
	}
	require.Len(t, b.smtp.Messages(), len(out), "one message per sent step, none twice")
	return out
}

func taskIDs(t *testing.T, list func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error)) []string {
	t.Helper()
	tasks, err := list(QueueEmail)
	require.NoError(t, err)
	var ids []string
	for _, task := range tasks {
		ids = append(ids, task.ID)
	}
	sort.Strings(ids)
	return ids
}

// A dispatcher queues due reminders together; the batch sends each one
// once, and each that does not end there goes on as its own task: a
// deferral scheduled for its instant, a temporary failure and a relay's
// refusal for their retries. Run again (its continuations could not all be
// queued), the batch sends only what is still owed.
func TestABatchSendsEachOnceAndHandsOnTheRest(t *testing.T) {
	t.Parallel()
	rdb := redistest.Private(t)
	b := setupWorker(t, rdb, time.Hour)
	b.h.opts.RetryBase = time.Minute
	ctx := context.Background()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	for _, id := range []string{"a", "b", "c", "d"} {
		b.due(t, id)
	}
	n, err := NewDispatcher(rdb, b.h.Baskets, DispatcherOptions{}).Once(ctx)
	require.NoError(t, err)
	require.Equal(t, 4, n)
	pending, err := insp.ListPendingTasks(QueueEmail)
	require.NoError(t, err)
	require.Len(t, pending, 1, "four due reminders, one task")
	batch := pending[0]
	assert.Equal(t, TypeSendReminders, batch.Type)

	// One more reminder in the batch is not due yet (asynqmon's "run").
	var p remindersPayload
	require.NoError(t, json.Unmarshal(batch.Payload, &p))
	require.Len(t, p.Reminders, 4)
	b.due(t, "later")
	p.Reminders = append(p.Reminders, reminderPayload{Storefront: "pink", BasketID: "later", Step: 1, Version: 1, Due: b.now.Add(time.Hour)})
	payload, _ := json.Marshal(p)
	task := asynq.NewTask(TypeSendReminders, payload)

	b.smtp.Fail(smtptest.Fault{Stage: smtptest.AtRcpt, Code: 451, Enhanced: smtp.EnhancedCode{4, 2, 0}, Text: "Try again later"},
		smtptest.Fault{Stage: smtptest.AtMail, Code: 550, Enhanced: smtp.EnhancedCode{5, 7, 1}, Text: "Relaying denied"})
	require.NoError(t, b.h.SendReminders(ctx, task), "every reminder ended or went on as its own task")

	sent := b.sentTo(t, "a", "b", "c", "d")
	assert.Len(t, sent, 2, "two of the four due were delivered: %v", sent)
	scheduled := taskIDs(t, insp.ListScheduledTasks)
	require.Len(t, scheduled, 3, "the deferral and the two retries wait as their own tasks")
	assert.Empty(t, taskIDs(t, insp.ListArchivedTasks), "the relay's refusal is retried, not archived: the relay may be fixed in time")
	assert.Contains(t, scheduled, "remind:pink:later:s1:v1")
	for _, id := range scheduled {
		r, err := basket.ParseTaskID(id)
		require.NoError(t, err)
		assert.False(t, sent[r.BasketID], "%s was not delivered", id)
		assert.Empty(t, b.claim(t, r.BasketID), "%s: the claim is free for its own task", id)
	}
	info, err := insp.GetTaskInfo(QueueEmail, "remind:pink:later:s1:v1")
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(time.Hour), info.NextProcessAt, 5*time.Second, "deferred to its due time")
	for _, id := range scheduled {
		if id != "remind:pink:later:s1:v1" {
			info, err := insp.GetTaskInfo(QueueEmail, id)
			require.NoError(t, err)
			assert.WithinDuration(t, time.Now().Add(time.Minute), info.NextProcessAt, 5*time.Second, "retried after worker.retry_base")
			assert.Equal(t, b.h.opts.MaxRetry-1, info.MaxRetry, "the batch's try was its first")
			var p reminderPayload
			require.NoError(t, json.Unmarshal(info.Payload, &p))
			assert.Equal(t, 1, p.Tried, "its last attempt's log counts the batch's")
		}
	}

	// The batch runs again: what was sent drops at its claim, what is owed goes.
	require.NoError(t, b.h.SendReminders(ctx, task))
	assert.Equal(t, map[string]bool{"a": true, "b": true, "c": true, "d": true}, b.sentTo(t, "a", "b", "c", "d"), "each basket once")
	for id := range sent {
		decisions, err := b.h.Baskets.Decisions(ctx, "pink", id)
		require.NoError(t, err)
		require.Len(t, decisions, 1, "%s: its send, not a second entry for the run again: %+v", id, decisions)
		assert.Equal(t, policy.Send, decisions[0].Outcome)
	}
}

// A forgotten person's reminder waiting in a batch is dropped when the
// batch runs: the claim finds no basket.
func TestABatchDropsTheRemindersOfAForgottenPerson(t *testing.T) {
	t.Parallel()
	rdb := redistest.Private(t)
	b := setupWorker(t, rdb, time.Hour)
	ctx := context.Background()
	b.due(t, "a")
	b.due(t, "b")
	_, err := NewDispatcher(rdb, b.h.Baskets, DispatcherOptions{}).Once(ctx)
	require.NoError(t, err)
	pending, err := asynq.NewInspectorFromRedisClient(rdb).ListPendingTasks(QueueEmail)
	require.NoError(t, err)
	require.Len(t, pending, 1)

	_, err = NewSubjects(rdb, b.h.Baskets, b.h.Suppressions, nil).Forget(ctx, b.keys.Recipient("ann@example.com"))
	require.NoError(t, err)
	require.NoError(t, b.h.SendReminders(ctx, asynq.NewTask(pending[0].Type, pending[0].Payload)))
	assert.Empty(t, b.smtp.Messages())
}

// A reminder of a batch that cannot be built (a template's fault) goes on
// as its own task, archived at once, to be run again once it is fixed.
func TestABatchArchivesWhatCannotBeBuilt(t *testing.T) {
	t.Parallel()
	rdb := redistest.Private(t)
	s := newScheduler(rdb, 10, replication.Wait{}, "ba:")
	p := reminderPayload{Storefront: "pink", BasketID: "x", Step: 1, Version: 2, Due: time.Now()}
	require.NoError(t, s.continueAlone(context.Background(), p, fmt.Errorf("compose reminder: %w", asynq.SkipRetry), time.Minute))
	assert.Equal(t, []string{"remind:pink:x:s1:v2"}, taskIDs(t, asynq.NewInspectorFromRedisClient(rdb).ListArchivedTasks))
}
