package main

import (
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/config"
	"github.com/basketassist/basketassist/web"
)

func (b *bundle) opsRequest(t *testing.T, base, method, path, user, password string, header ...string) int {
	t.Helper()
	req, err := http.NewRequest(method, base+path, nil)
	require.NoError(t, err)
	if password != "" {
		req.SetBasicAuth(user, password)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// Two doors through Main: the public listener has ingest and health and no
// ops route; asynqmon on the ops listener refuses a cross-site POST (the
// queue stays unpaused), is read-only for monitoring:read, and pauses for
// monitoring:write from its own page.
func TestTwoDoorsAndMonitoringThroughMain(t *testing.T) {
	t.Parallel()
	ops, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	const reader, writer = "reader-token-0123456789", "writer-token-0123456789"
	b := setupMain(t, realRedis, func(m *Main) { m.OpsListener = ops }, func(c *config.Config) {
		c.Web.Tokens = []config.Token{{Name: "dashboards", Token: reader, Roles: []string{"monitoring:read", "metrics"}},
			{Name: "oncall", Token: writer, Roles: []string{"monitoring:write"}}}
	})
	opsURL := "http://" + b.main.OpsAddr.String()
	require.NotEqual(t, b.baseURL, opsURL)
	for _, path := range []string{"/metrics", "/monitoring/", "/readyz", "/v1/suppressions"} {
		assert.Equal(t, http.StatusNotFound, b.opsRequest(t, b.baseURL, http.MethodGet, path, "ops", testAdminToken), "public: %s", path)
	}
	assert.Equal(t, http.StatusOK, b.opsRequest(t, b.baseURL, http.MethodGet, "/healthz", "", ""))
	assert.Equal(t, http.StatusOK, b.opsRequest(t, opsURL, http.MethodGet, "/metrics", "", reader))

	// asynqmon knows the queue once something was queued.
	b.send(b.event(basket.Updated, "b_door", "door@example.com"))
	b.smtp.WaitFor(t, 1, 15*time.Second)
	insp := asynq.NewInspectorFromRedisClient(b.rdb)
	paused := func() bool {
		info, err := insp.GetQueueInfo("email")
		require.NoError(t, err)
		return info.Paused
	}
	const pause = "/monitoring/api/queues/email:pause"
	assert.Equal(t, http.StatusForbidden, b.opsRequest(t, opsURL, http.MethodPost, pause, "ops", testAdminToken,
		"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"), "a page elsewhere cannot pause the queue")
	assert.False(t, paused(), "the queue stays unpaused")
	assert.Equal(t, http.StatusForbidden, b.opsRequest(t, opsURL, http.MethodPost, pause, "ops", reader), "monitoring:read cannot pause")
	assert.False(t, paused())
	assert.Equal(t, http.StatusOK, b.opsRequest(t, opsURL, http.MethodGet, "/monitoring/", "ops", reader), "but can look")
	assert.Equal(t, http.StatusNoContent, b.opsRequest(t, opsURL, http.MethodPost, pause, "ops", writer,
		"Sec-Fetch-Site", "same-origin", "Origin", opsURL))
	assert.True(t, paused(), "monitoring:write from asynqmon's own page pauses")
	assert.Contains(t, b.logs.String(), `"token":"oncall"`, "logs name the token")
	assert.NotContains(t, b.logs.String(), writer, "never its value")
}

// The roles config validates are the roles web checks.
func TestRolesAreOneList(t *testing.T) {
	var roles []string
	for _, r := range web.Roles {
		roles = append(roles, string(r))
	}
	assert.True(t, slices.Equal(config.OpsRoles, roles), "config.OpsRoles %v, web.Roles %v", config.OpsRoles, roles)
}
