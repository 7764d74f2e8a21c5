package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/config"
)

func (b *bundle) admin(t *testing.T, path string, body any) map[string]any {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, b.baseURL+path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	require.Less(t, resp.StatusCode, 300, string(out))
	var m map[string]any
	require.NoError(t, json.Unmarshal(out, &m))
	return m
}

func TestForgetAndExportSubject(t *testing.T) {
	t.Parallel()
	b := setup(t, realRedis, func(c *config.Config) { c.Reminders.Steps = []config.Step{{After: time.Hour}} })
	const addr = "rae@example.com"
	b.send(b.event(basket.Updated, "b_rae1", addr), b.event(basket.Updated, "b_rae2", addr))
	b.waitScheduled("remind:pink:b_rae1:s1:v1")
	b.waitScheduled("remind:pink:b_rae2:s1:v1")
	b.admin(t, "/v1/suppressions", map[string]string{"email": addr, "scope": "newsletter", "storefront": "pink"})

	exp := b.admin(t, "/v1/subjects/export", map[string]string{"email": addr})
	baskets := exp["baskets"].([]any)
	require.Len(t, baskets, 2)
	first := baskets[0].(map[string]any)
	assert.Equal(t, addr, first["customer"].(map[string]any)["email"], "the export opens the sealed customer")
	assert.NotNil(t, first["basket"])
	assert.Equal(t, []any{}, first["decisions"], "the decision record is part of the export (empty: nothing due yet)")
	assert.Len(t, exp["suppressions"].([]any), 1)

	// The same view from the command line.
	out, _, err := runCLI(t, "", "--config", writeYAML(t, b.cfg), "export-subject", "--email", addr)
	require.NoError(t, err)
	assert.Contains(t, out, `"basket_id": "b_rae`)

	rep := b.admin(t, "/v1/subjects/forget", map[string]string{"email": addr})
	assert.Equal(t, 2.0, rep["baskets_erased"])
	assert.Equal(t, 2.0, rep["reminders_cancelled"])
	assert.Equal(t, 1.0, rep["suppressions_kept"])

	assert.Empty(t, b.scheduled(), "pending reminders are gone")
	keys := b.rdb.Keys(context.Background(), "ba:*").Val()
	for _, k := range keys {
		// The storefront's ingest budget is about no one.
		assert.True(t, strings.HasPrefix(k, "ba:sup:{") || k == "ba:rate:{pink}", "left after forget: %s", k)
	}
	assert.Equal(t, true, b.check(addr, "newsletter")["suppressed"], "the opt-out outlives the data")
	exp = b.admin(t, "/v1/subjects/export", map[string]string{"email": addr})
	assert.Empty(t, exp["baskets"])

	// Forgetting twice is harmless.
	rep = b.admin(t, "/v1/subjects/forget", map[string]string{"email": addr})
	assert.Equal(t, 0.0, rep["baskets_erased"])
}
