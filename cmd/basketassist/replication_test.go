package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/config"
	"github.com/basketassist/basketassist/internal/redistest"
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
// forget the hand-over or the unsubscribe: so nothing is handed to SMTP (the
// send is retried) and the unsubscribe is not acknowledged.
func TestWithoutTheReplicasAskedForNothingIsHandedOverOrAcknowledged(t *testing.T) {
	t.Parallel()
	b := setup(t, realRedis, func(c *config.Config) { c.Redis.WaitReplicas, c.Redis.WaitTimeout = 1, 20*time.Millisecond })
	b.send(b.event(basket.Updated, "b_w1", "wren@example.com"))
	require.Eventually(t, func() bool {
		// Logs name errors in fixed words only (mail.Describe): count the failed attempts.
		return strings.Count(b.logs.String(), `"msg":"task failed"`) >= 2
	}, 20*time.Second, 20*time.Millisecond, "the hand-over is refused and retried")
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
