package mail_test

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/mail"
	"github.com/basketassist/basketassist/templates"
)

var spamScore = regexp.MustCompile(`X-Spam-Status: \w+, score=(-?[0-9.]+)`)

// TestSpamAssassinScoresEveryBuiltInTemplate scores each built-in locale and
// step, rendered as the worker sends it, with SpamAssassin's local rules
// (Debian spamassassin; scripts/test.sh installs it). Each must stay below 1.0.
func TestSpamAssassinScoresEveryBuiltInTemplate(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("spamassassin")
	if err != nil {
		t.Skip("spamassassin not found: install the Debian package spamassassin (scripts/test.sh does)")
	}
	r, err := templates.New(templates.Options{})
	require.NoError(t, err)
	home := t.TempDir() // SpamAssassin writes user state under $HOME; keep it out of the real one
	for _, locale := range r.Locales() {
		for step := 1; step <= 2; step++ {
			var eml bytes.Buffer
			require.NoError(t, mail.WriteEML(&eml, sampleMessage(t, locale, step), nil))
			cmd := exec.Command(bin, "-L", "-t", "--cf=use_bayes 0", "--cf=bayes_auto_learn 0")
			cmd.Stdin = &eml
			cmd.Env = append(os.Environ(), "HOME="+home)
			out, err := cmd.Output()
			require.NoError(t, err, "spamassassin %s step %d", locale, step)
			m := spamScore.FindSubmatch(out)
			require.NotNil(t, m, "no X-Spam-Status in spamassassin's output")
			score, err := strconv.ParseFloat(string(m[1]), 64)
			require.NoError(t, err)
			t.Logf("SpamAssassin score, %s step %d: %.1f", locale, step, score)
			assert.Less(t, score, 1.0, "%s step %d", locale, step)
		}
	}
}
