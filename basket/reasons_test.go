package basket

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/policy"
)

// Every reason a script can return is one of policy's: the scripts, the
// worker, the logs, the metrics and the decision record share one list.
func TestScriptReasonsAreKnown(t *testing.T) {
	files, err := filepath.Glob("lua/*.lua")
	require.NoError(t, err)
	drop := regexp.MustCompile(`\{'drop', '([a-z_0-9]+)'`)
	assigned := regexp.MustCompile(`reason = '([a-z_0-9]+)'`)
	found := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, re := range []*regexp.Regexp{drop, assigned} {
			for _, m := range re.FindAllStringSubmatch(string(src), -1) {
				found++
				assert.True(t, policy.Reason(m[1]).Known(), "%s returns %q, which is not a policy.Reason", f, m[1])
			}
		}
	}
	assert.Greater(t, found, 8, "the patterns still find the scripts' reasons")
}
