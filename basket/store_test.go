package basket

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/internal/redistest"
	"github.com/basketassist/basketassist/secrets"
)

type storeBundle struct {
	store *Store
	keys  *secrets.Keys
	t0    time.Time
	n     int
}

func setupStore(t *testing.T, steps int) *storeBundle {
	t.Helper()
	master, err := secrets.ParseKey(secrets.GenerateKey())
	require.NoError(t, err)
	keys, err := secrets.New(master)
	require.NoError(t, err)
	return &storeBundle{store: NewStore(redistest.Client(t), keys, StoreOptions{Prefix: "t:", Steps: steps}), keys: keys,
		t0: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
}

// apply applies an event of typ for basket b_1, occurring at t0+offset.
func (b *storeBundle) apply(t *testing.T, typ Type, offset time.Duration, withCustomer bool) ApplyResult {
	t.Helper()
	b.n++
	e := Event{ID: "e" + string(rune('a'+b.n)), Type: typ, Storefront: "pink", BasketID: "b_1", OccurredAt: b.t0.Add(offset)}
	if withCustomer {
		e.Customer = &Customer{Email: "ann@example.com", Consent: Consent{BasketAssistance: true}}
	}
	if typ == Updated {
		e.Basket = &Contents{Currency: "GBP", Items: []Item{{SKU: "S", Name: "Shirt", Quantity: 1, UnitPrice: int64(100 + b.n)}}}
	}
	s, err := Seal(b.keys, e)
	require.NoError(t, err)
	r, err := b.store.Apply(context.Background(), s)
	require.NoError(t, err)
	return r
}

func TestApplySchedulesFirstStepWithConsent(t *testing.T) {
	t.Parallel()
	b := setupStore(t, 2)
	r := b.apply(t, Updated, 0, false)
	assert.Equal(t, Applied, r.Outcome)
	assert.Empty(t, r.Task, "no address yet: nothing to schedule")

	r = b.apply(t, Updated, time.Minute, true)
	assert.Equal(t, Applied, r.Outcome)
	assert.Equal(t, int64(2), r.Version)
	assert.Equal(t, "remind:pink:b_1:s1:v2", r.Task)
	assert.Equal(t, b.t0.Add(time.Minute), r.LastActivity)

	r = b.apply(t, Updated, 2*time.Minute, false) // customer omitted: the known one stays
	assert.Equal(t, "remind:pink:b_1:s1:v3", r.Task)
	assert.Equal(t, "remind:pink:b_1:s1:v2", r.OldTask, "the superseded task is named for deletion")
}

func TestOutOfOrderEventsNeverRegress(t *testing.T) {
	t.Parallel()
	b := setupStore(t, 1)
	b.apply(t, Updated, 5*time.Minute, true)
	r := b.apply(t, Updated, 0, true) // older
	assert.Equal(t, Ignored, r.Outcome)
	assert.Equal(t, int64(1), r.Version)
	assert.Equal(t, b.t0.Add(5*time.Minute), r.LastActivity)
}

func TestPurchaseAlwaysWinsAndEnds(t *testing.T) {
	t.Parallel()
	b := setupStore(t, 1)
	first := b.apply(t, Updated, 5*time.Minute, true)
	r := b.apply(t, OrderCompleted, 0, false) // older than the update, still ends the basket
	assert.Equal(t, Applied, r.Outcome)
	assert.Equal(t, Purchased, r.Status)
	assert.Empty(t, r.Task)
	assert.Equal(t, first.Task, r.OldTask)
	assert.Equal(t, b.t0.Add(5*time.Minute), r.LastActivity, "a purchase does not move activity backwards")

	r = b.apply(t, Updated, 10*time.Minute, true)
	assert.Equal(t, Ignored, r.Outcome, "nothing revives a purchased basket")

	_, err := b.store.Claim(context.Background(), "pink", "b_1", first.Version, 1)
	assertDropped(t, err, DropPurchased)
}

func TestClearedBasketCanComeBack(t *testing.T) {
	t.Parallel()
	b := setupStore(t, 1)
	b.apply(t, Updated, 0, true)
	r := b.apply(t, Cleared, time.Minute, false)
	assert.Equal(t, Emptied, r.Status)
	assert.Empty(t, r.Task)
	r = b.apply(t, Updated, 2*time.Minute, false)
	assert.Equal(t, Active, r.Status)
	assert.Equal(t, "remind:pink:b_1:s1:v3", r.Task)
}

func TestDuplicateEventIsIgnoredButNamesTheWantedTask(t *testing.T) {
	t.Parallel()
	b := setupStore(t, 1)
	e := Event{ID: "same", Type: Updated, Storefront: "pink", BasketID: "b_1", OccurredAt: b.t0,
		Customer: &Customer{Email: "ann@example.com", Consent: Consent{BasketAssistance: true}},
		Basket:   &Contents{Currency: "GBP"}}
	s, err := Seal(b.keys, e)
	require.NoError(t, err)
	r1, err := b.store.Apply(context.Background(), s)
	require.NoError(t, err)
	r2, err := b.store.Apply(context.Background(), s)
	require.NoError(t, err)
	assert.Equal(t, Duplicate, r2.Outcome)
	assert.Equal(t, r1.Version, r2.Version)
	assert.Equal(t, r1.Task, r2.Task, "a retry after a crash can still schedule the reminder")
	assert.Empty(t, r2.OldTask)
}

func TestClaimIsWonOnce(t *testing.T) {
	t.Parallel()
	b := setupStore(t, 2)
	ctx := context.Background()
	r := b.apply(t, Updated, 0, true)

	got, err := b.store.Claim(ctx, "pink", "b_1", r.Version, 1)
	require.NoError(t, err)
	assert.Equal(t, "ann@example.com", got.Customer.Email)
	assert.Len(t, got.Contents.Items, 1)

	_, err = b.store.Claim(ctx, "pink", "b_1", r.Version, 1)
	assertDropped(t, err, DropInDoubt) // crashed mid-send: never a second email

	next, err := b.store.Finish(ctx, "pink", "b_1", r.Version, 1, Sent)
	require.NoError(t, err)
	assert.Equal(t, "remind:pink:b_1:s2:v1", next.Task)
	assert.Equal(t, 2, next.Step)
	_, err = b.store.Claim(ctx, "pink", "b_1", r.Version, 1)
	assertDropped(t, err, "already_sent")

	_, err = b.store.Claim(ctx, "pink", "b_1", r.Version-1, 2)
	assertDropped(t, err, DropSuperseded)
	_, err = b.store.Claim(ctx, "pink", "nope", 1, 1)
	assertDropped(t, err, DropGone)
}

func TestReleaseAllowsAnotherClaim(t *testing.T) {
	t.Parallel()
	b := setupStore(t, 1)
	ctx := context.Background()
	r := b.apply(t, Updated, 0, true)
	_, err := b.store.Claim(ctx, "pink", "b_1", r.Version, 1)
	require.NoError(t, err)
	require.NoError(t, b.store.Release(ctx, "pink", "b_1", 1))
	_, err = b.store.Claim(ctx, "pink", "b_1", r.Version, 1)
	require.NoError(t, err)
	next, err := b.store.Finish(ctx, "pink", "b_1", r.Version, 1, Sent)
	require.NoError(t, err)
	assert.Empty(t, next.Task, "one step configured: the sequence is over")
}

func TestNoConsentDrops(t *testing.T) {
	t.Parallel()
	b := setupStore(t, 1)
	e := Event{ID: "e1", Type: Updated, Storefront: "pink", BasketID: "b_1", OccurredAt: b.t0,
		Customer: &Customer{Email: "ann@example.com"}, Basket: &Contents{Currency: "GBP"}}
	s, err := Seal(b.keys, e)
	require.NoError(t, err)
	r, err := b.store.Apply(context.Background(), s)
	require.NoError(t, err)
	assert.Empty(t, r.Task)
	_, err = b.store.Claim(context.Background(), "pink", "b_1", r.Version, 1)
	assertDropped(t, err, DropNoConsent)
}

func assertDropped(t *testing.T, err error, reason string) {
	t.Helper()
	var d *ErrDropped
	require.True(t, errors.As(err, &d), "want ErrDropped(%s), got %v", reason, err)
	assert.Equal(t, reason, d.Reason)
}
