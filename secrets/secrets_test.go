package secrets

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSealOpenBindsContext(t *testing.T) {
	t.Parallel()
	k := Throwaway()
	sealed := k.Seal([]byte(`{"email":"ann@example.com"}`), "customer/pink/b_1")
	assert.NotContains(t, string(sealed), "ann@example.com")
	plain, err := k.Open(sealed, "customer/pink/b_1")
	require.NoError(t, err)
	assert.Equal(t, `{"email":"ann@example.com"}`, string(plain))

	_, err = k.Open(sealed, "customer/pink/b_2")
	assert.ErrorIs(t, err, ErrOpen, "moved to another basket")
	_, err = Throwaway().Open(sealed, "customer/pink/b_1")
	assert.ErrorIs(t, err, ErrOpen, "another key: each Throwaway is its own")
	sealed[len(sealed)-1] ^= 1
	_, err = k.Open(sealed, "customer/pink/b_1")
	assert.ErrorIs(t, err, ErrOpen, "tampered")
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	_, err := ParseKey("c2hvcnQ=")
	assert.ErrorContains(t, err, "must decode to 32 bytes, got 5")
	_, err = ParseKey("not base64 !!")
	assert.ErrorContains(t, err, "openssl rand -base64 32")
	_, err = ParseKey(GenerateKey())
	assert.NoError(t, err)
}

func TestMaskAddress(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "a***@example.com", MaskAddress("Ann.Smith@Example.com"))
	assert.Equal(t, "***", MaskAddress("nonsense"))
}

// One address rule for events, the admin API, the command line and CSV.
func TestCheckAddress(t *testing.T) {
	for _, ok := range []string{"ann@example.com", "a.b+tag@sub.example.co.uk"} {
		assert.NoError(t, CheckAddress(ok), ok)
	}
	for _, bad := range []string{"", "ann", "ann@localhost", "Ann <ann@example.com>", " ann@example.com", "ann@example.com,bob@example.com",
		strings.Repeat("a", 250) + "@example.com"} {
		err := CheckAddress(bad)
		assert.ErrorIs(t, err, ErrNotAnAddress, bad)
		if bad != "" {
			assert.NotContains(t, err.Error(), bad, "never quotes the value")
		}
	}
}

// An address an operator pastes may carry space around it, which the hash
// ignores anyway; inside, the rule is CheckAddress's.
func TestCheckTypedAddress(t *testing.T) {
	assert.NoError(t, CheckTypedAddress(" ann@example.com\n"))
	assert.Error(t, CheckTypedAddress(" Ann <ann@example.com> "))
	assert.Error(t, CheckTypedAddress("  "))
	k := Throwaway()
	assert.Equal(t, k.Recipient(" Ann@Example.com "), k.Recipient("ann@example.com"))
}
