package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/internal/smtptest"
)

// The playbook "the relay rejected everything": count the wrong
// hard_bounce entries since the incident, remove them, keep the rest; and
// remove one entry by the hash that list prints.
func TestSuppressRemoveInBulkAndByHash(t *testing.T) {
	t.Parallel()
	path := writeYAML(t, testConfig(t, smtptest.Start(t)))
	csv := strings.Join([]string{
		"email,scope,storefront,reason,origin,created_at",
		"old@example.com,all,,hard_bounce,system,2026-11-20T09:00:00Z",   // before the incident: kept
		"wave1@example.com,all,,hard_bounce,system,2026-11-24T11:00:00Z", // the incident
		"wave2@example.com,all,,hard_bounce,system,2026-11-25T08:00:00Z",
		"chose@example.com,basket_assistance,pink,unsubscribed,recipient,2026-11-25T08:00:00Z", // not a bounce: kept
	}, "\n") + "\n"
	_, _, err := runCLI(t, csv, "--config", path, "suppress", "import", "-")
	require.NoError(t, err)

	bulk := []string{"--config", path, "suppress", "remove", "--reason", "hard_bounce", "--since", "2026-11-24T10:00:00Z"}
	out, _, err := runCLI(t, "", append(bulk, "--dry-run")...)
	require.NoError(t, err)
	assert.Contains(t, out, "would remove 2 entries")
	out, _, err = runCLI(t, "", "--config", path, "suppress", "list")
	require.NoError(t, err)
	assert.Contains(t, out, "4 entries", "a dry run removes nothing")

	out, _, err = runCLI(t, "", bulk...)
	require.NoError(t, err)
	assert.Contains(t, out, "removed 2 entries")
	out, _, err = runCLI(t, "", "--config", path, "suppress", "check", "--email", " Wave1@example.com ", "--scope", "newsletter") // pasted
	require.NoError(t, err)
	assert.Contains(t, out, "suppressed=false")
	list, _, err := runCLI(t, "", "--config", path, "suppress", "list", "--scope", "all")
	require.NoError(t, err)
	assert.Contains(t, list, "1 entry ", "the bounce from before the incident stays")

	hash := regexp.MustCompile(`(?m)^(hmac-sha256:[0-9a-f]{64})\s`).FindStringSubmatch(list)
	require.NotNil(t, hash, "list prints recipients as --email takes them: %s", list)
	out, _, err = runCLI(t, "", "--config", path, "suppress", "remove", "--email", hash[1], "--scope", "all")
	require.NoError(t, err)
	assert.Contains(t, out, "removed=true scope=all")
	out, _, err = runCLI(t, "", "--config", path, "suppress", "list")
	require.NoError(t, err)
	assert.Contains(t, out, "1 entry ", "only the unsubscribe is left")
	assert.Contains(t, out, "unsubscribed")

	_, _, err = runCLI(t, "", "--config", path, "suppress", "remove")
	assert.ErrorContains(t, err, "--email: is required, or remove in bulk with --reason")
	_, _, err = runCLI(t, "", "--config", path, "suppress", "remove", "--reason", "hard_bounce", "--since", "yesterday")
	assert.ErrorContains(t, err, "--since: must be an RFC 3339 time")
	_, _, err = runCLI(t, "", "--config", path, "suppress", "remove", "--email", "hmac-sha256:zz")
	assert.ErrorContains(t, err, "--email: secrets: recipient hash must be 64 hex characters")
}
