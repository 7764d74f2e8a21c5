package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/config"
)

// The start-up line states what is on: Redis, SMTP host and TLS mode,
// DKIM per storefront, steps and listeners; a storefront whose From does
// not align with dkim.domain is warned about by name.
func TestStartupLogStatesWhatIsOn(t *testing.T) {
	t.Parallel()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	keyFile := filepath.Join(t.TempDir(), "dkim.pem")
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))

	b := setup(t, realRedis, func(c *config.Config) {
		c.DKIM = config.DKIM{Domain: "pink.example", Selector: "ba1", KeyFile: keyFile}
		blue := c.Storefronts[0]
		blue.ID, blue.From, blue.APIKey = "blue", "Blue <hi@blue.example>", "blue-api-key-0123456789abcdef"
		c.Storefronts = append(c.Storefronts, blue)
	})
	var started map[string]any
	var warned []string
	for _, line := range strings.Split(b.logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		switch {
		case rec["msg"] == "basketassist started":
			started = rec
		case strings.HasPrefix(rec["msg"].(string), "dkim.domain does not align"):
			warned = append(warned, rec["storefront"].(string))
		}
	}
	require.NotNil(t, started, "one line says what started")
	assert.Equal(t, b.cfg.Redis.Addr, started["redis"])
	assert.Equal(t, fmt.Sprintf("%s:%d tls=%s", b.smtp.Host, b.smtp.Port, b.cfg.SMTP.TLS), started["smtp"])
	assert.Contains(t, started["dkim"], "pink=pink.example s=ba1")
	assert.Contains(t, started["dkim"], "blue=pink.example s=ba1")
	assert.Equal(t, float64(1), started["steps"])
	assert.Equal(t, b.main.WebAddr.String(), started["web_listen"])
	assert.Equal(t, "off", started["bounces_listen"])
	assert.Equal(t, []string{"blue"}, warned, "blue.example mail signed for pink.example fails DMARC alignment")
}

// The soft memory limit leaves room for what a worker holds in flight: a
// fixed 36 MiB at worker.concurrency 80 had the collector running without
// pause (BENCHMARKS.md, RSS).
func TestTheMemoryLimitGrowsWithWorkerConcurrency(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	assert.EqualValues(t, 36*mib, memoryLimit(20, true), "the default concurrency keeps the measured 36 MiB")
	assert.EqualValues(t, 36*mib, memoryLimit(1, true), "never below it")
	assert.EqualValues(t, 96*mib, memoryLimit(80, true))
	assert.EqualValues(t, 36*mib, memoryLimit(80, false), "web runs no tasks")
}
