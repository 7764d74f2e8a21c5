package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/config"
	"github.com/basketassist/basketassist/internal/redistest"
	"github.com/basketassist/basketassist/worker"
)

func (b *bundle) postStatus(t *testing.T, path string, body any) int {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, b.baseURL+path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// With redis.wait_replicas set and no replica to confirm, a failover could
// forget any step a promise rests on, so none counts: the request is
// answered 503 (the storefront retries), an applied event is applied again,
// a due reminder stays in the due index, nothing is handed to SMTP (the
// send is retried) and the unsubscribe is not acknowledged.
func TestWithoutTheReplicasAskedForNothingIsHandedOverOrAcknowledged(t *testing.T) {
	t.Parallel()
	b := setup(t, realRedis, func(c *config.Config) { c.Redis.WaitReplicas, c.Redis.WaitTimeout = 1, 20*time.Millisecond })
	ctx := context.Background()
	ev := b.event(basket.Updated, "b_w1", "wren@example.com")
	_, err := b.client.Send(ctx, ev)
	var refused *basket.APIError
	require.ErrorAs(t, err, &refused)
	assert.Equal(t, http.StatusServiceUnavailable, refused.Status, "not confirmed by a replica: not accepted")

	// Queued all the same (as by a process without redis.wait_replicas):
	// the apply runs on the primary but is not acknowledged, and the due
	// reminder is not handed to the email queue.
	producer := worker.NewProducer(asynq.NewClientFromRedisClient(b.rdb), b.main.core.keys, worker.ProducerOptions{})
	require.NoError(t, producer.Submit(ctx, []basket.Event{ev}))
	failed := func(n int) func() bool {
		// Logs name errors in fixed words only (mail.Describe): count the failed attempts.
		return func() bool { return strings.Count(b.logs.String(), `"msg":"task failed"`) >= n }
	}
	require.Eventually(t, failed(2), 20*time.Second, 20*time.Millisecond, "the apply is not acknowledged, and runs again")
	b.waitScheduled("remind:pink:b_w1:s1:v1")
	require.Eventually(t, func() bool { return strings.Contains(b.logs.String(), "cannot dispatch due reminders") },
		20*time.Second, 20*time.Millisecond, "the due reminder is not handed over to the queue")

	// A reminder task queued all the same: its hand-over is refused.
	_, err = asynq.NewClientFromRedisClient(b.rdb).Enqueue(asynq.NewTask(worker.TypeSendReminder,
		[]byte(`{"storefront":"pink","basket_id":"b_w1","step":1,"version":1,"due":"2026-01-01T00:00:00Z"}`)), asynq.Queue(worker.QueueEmail))
	require.NoError(t, err)
	// The refused hand-over's release is not confirmed either, and is
	// retried for 30 s (worker persist) before the attempt fails.
	require.Eventually(t, func() bool { return strings.Contains(b.logs.String(), `"task_type":"reminder:send"`) },
		60*time.Second, 20*time.Millisecond, "the hand-over is refused, and the attempt fails to be retried")
	assert.Empty(t, b.smtp.Messages(), "nothing reached the final dot")
	claim, _ := b.rdb.Get(context.Background(), "ba:{pink:b_w1}:step:1").Result()
	assert.NotContains(t, claim, "handing_over", "the refused hand-over was undone")

	assert.Equal(t, http.StatusServiceUnavailable, b.postStatus(t, "/v1/suppressions",
		map[string]string{"email": "wren@example.com", "scope": "basket_assistance", "storefront": "pink"}))
}

func TestAReplicaConfirmsTheHandOverAndTheUnsubscribe(t *testing.T) {
	t.Parallel()
	addr, _, replica := redistest.Replicated(t)
	b := setup(t, realRedis, func(c *config.Config) {
		c.Redis.Addr, c.Redis.DB = addr, 0
		c.Redis.WaitReplicas, c.Redis.WaitTimeout = 1, 5*time.Second
	})
	b.send(b.event(basket.Updated, "b_w2", "wren@example.com"))
	b.smtp.WaitFor(t, 1, 20*time.Second)

	require.Equal(t, http.StatusCreated, b.postStatus(t, "/v1/suppressions",
		map[string]string{"email": "wren@example.com", "scope": "basket_assistance", "storefront": "pink"}))
	// Acknowledged only after the replica confirmed it: it is there now.
	keys, err := replica.Keys(context.Background(), "ba:sup:*").Result()
	require.NoError(t, err)
	assert.Len(t, keys, 1)
}

// With redis.sentinel set, basketassist finds the primary through Sentinel
// and follows a failover: what was sent before it is not sent again, an
// unsubscribe acknowledged before it (confirmed by the replica, as
// redis.wait_replicas asks) is honoured after it, and new reminders go out.
func TestSentinelFailoverIsFollowed(t *testing.T) {
	t.Parallel()
	rs := redistest.Sentinel(t, "ba-primary")
	b := setup(t, realRedis, func(c *config.Config) {
		c.Redis.Addr, c.Redis.DB = "", 0
		c.Redis.Sentinel = config.Sentinel{Master: "ba-primary", Addrs: []string{rs.SentinelAddr}}
		c.Redis.WaitReplicas, c.Redis.WaitTimeout = 1, 5*time.Second
	})
	defer func() {
		if t.Failed() {
			t.Log(b.logs.String())
			due, _ := b.rdb.ZRangeWithScores(context.Background(), "ba:due", 0, -1).Result()
			keys, _ := b.rdb.Keys(context.Background(), "asynq:*").Result()
			t.Logf("DEBUG due %v now %d asynq %v", due, time.Now().UnixMilli(), keys)
		}
	}()
	assert.Contains(t, b.logs.String(), `"redis":"Sentinel master \"ba-primary\" via `+rs.SentinelAddr+`"`, "the start-up line says where Redis is")
	b.send(b.event(basket.Updated, "b_f1", "ann@example.com"))
	b.smtp.WaitFor(t, 1, 20*time.Second)
	require.Equal(t, http.StatusCreated, b.postStatus(t, "/v1/suppressions",
		map[string]string{"email": "bob@example.com", "scope": "basket_assistance", "storefront": "pink"}))

	rs.Failover(t)
	// Until the service's connections follow the new primary, a request
	// may be answered 503, not confirmed by a replica; the storefront
	// retries (safe: events apply once, by id).
	after := []basket.Event{b.event(basket.Updated, "b_f2", "bob@example.com"), b.event(basket.Updated, "b_f3", "cy@example.com")}
	require.Eventually(t, func() bool {
		_, err := b.client.Send(context.Background(), after...)
		return err == nil
	}, 60*time.Second, 100*time.Millisecond, "accepted once the new primary has a replica")
	msgs := b.smtp.WaitFor(t, 2, 60*time.Second)
	b.settle(30 * time.Second)
	require.Len(t, b.smtp.Messages(), 2, "one email each to ann and cy, none again, none to bob")
	assert.Equal(t, []string{"cy@example.com"}, msgs[1].To)
	old := redis.NewClient(&redis.Options{Addr: rs.PrimaryAddr})
	defer old.Close()
	role, err := old.Do(context.Background(), "ROLE").Slice()
	require.NoError(t, err)
	assert.Equal(t, "slave", role[0], "the old primary serves no writes now: cy's reminder went through the new one")
}
