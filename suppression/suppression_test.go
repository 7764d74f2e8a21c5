package suppression

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/internal/redistest"
	"github.com/basketassist/basketassist/secrets"
)

func TestScopes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewStore(redistest.Client(t), "t:", nil)
	ann := secrets.Throwaway().Recipient("ann@example.com")

	blocked := func(storefront string, scope Scope) bool {
		t.Helper()
		b, _, err := s.Check(ctx, ann, storefront, scope)
		require.NoError(t, err)
		return b
	}
	_, err := s.Add(ctx, Entry{Recipient: ann, Scope: BasketAssistance, Storefront: "pink", Reason: Unsubscribed, Origin: Recipient})
	require.NoError(t, err)
	assert.True(t, blocked("pink", BasketAssistance))
	assert.False(t, blocked("pink", Newsletter), "a basket unsubscribe leaves newsletters alone")
	assert.False(t, blocked("blue", BasketAssistance), "per storefront")
	assert.False(t, blocked("pink", All))

	_, err = s.Add(ctx, Entry{Recipient: ann, Scope: All, Reason: Complaint, Origin: System})
	require.NoError(t, err)
	assert.True(t, blocked("blue", Newsletter), "a global all blocks everything")
	assert.True(t, blocked("blue", All))

	removed, err := s.Remove(ctx, ann, "", All, Operator)
	require.NoError(t, err)
	assert.True(t, removed)
	assert.True(t, blocked("pink", BasketAssistance), "removing all keeps the narrower entry")
	assert.False(t, blocked("blue", Newsletter))
}

func TestAddIsIdempotentAndKeepsTheFirstEntry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewStore(redistest.Client(t), "t:", nil)
	r := secrets.Throwaway().Recipient("bob@example.com")
	added, err := s.Add(ctx, Entry{Recipient: r, Scope: BasketAssistance, Reason: Unsubscribed, Origin: Recipient})
	require.NoError(t, err)
	assert.True(t, added)
	added, err = s.Add(ctx, Entry{Recipient: r, Scope: BasketAssistance, Reason: Manual, Origin: Operator})
	require.NoError(t, err)
	assert.False(t, added)
	_, e, err := s.Check(ctx, r, "", BasketAssistance)
	require.NoError(t, err)
	assert.Equal(t, Unsubscribed, e.Reason)
	assert.False(t, e.CreatedAt.IsZero())
}

func TestRecipientIsNormalised(t *testing.T) {
	t.Parallel()
	k := secrets.Throwaway()
	assert.Equal(t, k.Recipient("ann@example.com"), k.Recipient("  Ann@Example.COM "))
	assert.NotEqual(t, k.Recipient("ann@example.com"), k.Recipient("ann+x@example.com"))
	assert.NotEqual(t, k.Recipient("ann@example.com"), secrets.Throwaway().Recipient("ann@example.com"), "keyed: another key, another hash")
}

func TestTokenRoundTripAndTamper(t *testing.T) {
	t.Parallel()
	k := secrets.Throwaway()
	ts := NewTokens(k)
	tok := Token{Scope: BasketAssistance, Storefront: "pink", Recipient: k.Recipient("ann@example.com"),
		Masked: secrets.MaskAddress("ann@example.com"), BasketID: "b_42", Step: 2, Locale: "de-AT"}
	s := ts.Encode(tok)
	assert.NotContains(t, s, "ann@", "no address in the token (@ is not in its alphabet)")
	got, err := ts.Decode(s)
	require.NoError(t, err)
	assert.Equal(t, tok, got)
	assert.Equal(t, "a***@example.com", got.Masked)

	raw := []byte(s)
	for i := range raw {
		tampered := append([]byte(nil), raw...)
		tampered[i] = flip(tampered[i])
		_, err := ts.Decode(string(tampered))
		assert.ErrorIs(t, err, ErrInvalidToken, "byte %d changed", i)
	}
	_, err = NewTokens(secrets.Throwaway()).Decode(s)
	assert.ErrorIs(t, err, ErrInvalidToken, "another key")
	_, err = ts.Decode(s[:len(s)-3])
	assert.ErrorIs(t, err, ErrInvalidToken, "truncated")
	_, err = ts.Decode("")
	assert.ErrorIs(t, err, ErrInvalidToken)
}

// flip changes a base64url character into another valid one.
func flip(c byte) byte {
	if c == 'A' {
		return 'B'
	}
	return 'A'
}

// A batch larger than one pipeline chunk answers every address in order,
// each with Check's semantics.
func TestCheckAddressesAcrossChunks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewStore(redistest.Client(t), "t:", nil)
	keys := secrets.Throwaway()
	var addresses []string
	var entries []Entry
	for i := range 600 {
		a := fmt.Sprintf("p%d@example.com", i)
		addresses = append(addresses, a)
		if i%7 == 0 {
			entries = append(entries, Entry{Recipient: keys.Recipient(a), Scope: BasketAssistance, Storefront: "pink", Reason: Unsubscribed, Origin: Recipient})
		}
	}
	_, err := s.AddMany(ctx, entries)
	require.NoError(t, err)
	got, err := s.CheckAddresses(ctx, keys, addresses, "pink", BasketAssistance)
	require.NoError(t, err)
	require.Len(t, got, 600)
	for i, blocked := range got {
		assert.Equal(t, i%7 == 0, blocked, addresses[i])
	}
	other, err := s.CheckAddresses(ctx, keys, addresses, "blue", BasketAssistance)
	require.NoError(t, err)
	assert.NotContains(t, other, true, "pink's entries do not block blue")
}
