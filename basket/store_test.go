package basket

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/internal/redistest"
	"github.com/basketassist/basketassist/policy"
	"github.com/basketassist/basketassist/secrets"
)

type storeBundle struct {
	store *Store
	rdb   *redis.Client
	keys  *secrets.Keys
	t0    time.Time
	n     int
}

func setupStore(t *testing.T, steps int) *storeBundle {
	t.Helper()
	keys := secrets.Throwaway()
	rdb := redistest.Client(t)
	delays := make([]time.Duration, steps)
	for i := range delays {
		delays[i] = time.Duration(i+1) * time.Hour
	}
	return &storeBundle{store: NewStore(rdb, keys, StoreOptions{Prefix: "t:", Steps: delays}), rdb: rdb, keys: keys,
		t0: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
}

// claim returns the stored claim of step of basket b_1 ("" for none).
func (b *storeBundle) claim(t *testing.T, step int) string {
	t.Helper()
	v, err := b.rdb.Get(context.Background(), b.store.claimKey("pink", "b_1", step)).Result()
	if err == redis.Nil {
		return ""
	}
	require.NoError(t, err)
	return v
}

// handOver claims step 1 of basket b_1, version, as attempt a1 and hands
// it over (nobody suppressed).
func (b *storeBundle) handOver(t *testing.T, version int64) {
	t.Helper()
	ctx := context.Background()
	_, err := b.store.Claim(ctx, "pink", "b_1", version, 1, "a1")
	require.NoError(t, err)
	require.NoError(t, b.store.HandOver(ctx, "pink", "b_1", version, 1, "a1", Suppression{Key: "ba:sup:{x}", Fields: []string{"*|all"}}, Pace{}))
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

	_, err := b.store.Claim(context.Background(), "pink", "b_1", first.Version, 1, "a1")
	assertDropped(t, err, policy.Purchased)
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

func TestClaimHandOverFinish(t *testing.T) {
	t.Parallel()
	b := setupStore(t, 2)
	ctx := context.Background()
	r := b.apply(t, Updated, 0, true)
	sup := Suppression{Key: "ba:sup:{nobody}", Fields: []string{"*|all"}}

	got, err := b.store.Claim(ctx, "pink", "b_1", r.Version, 1, "a1")
	require.NoError(t, err)
	assert.Equal(t, "ann@example.com", got.Customer.Email)
	assert.Len(t, got.Contents.Items, 1)
	assert.Equal(t, "claimed:a1", b.claim(t, 1))

	// a1 died before the hand-over: a retry takes the claim over and a1 can
	// no longer hand over.
	_, err = b.store.Claim(ctx, "pink", "b_1", r.Version, 1, "a2")
	require.NoError(t, err, "a claim without a hand-over delivered nothing: the retry sends")
	assertDropped(t, b.store.HandOver(ctx, "pink", "b_1", r.Version, 1, "a1", sup, Pace{}), policy.ClaimLost)
	require.NoError(t, b.store.HandOver(ctx, "pink", "b_1", r.Version, 1, "a2", sup, Pace{}))
	assert.Equal(t, "handing_over:a2", b.claim(t, 1))

	next, err := b.store.Finish(ctx, "pink", "b_1", r.Version, 1, Sent, nil)
	require.NoError(t, err)
	assert.Equal(t, "remind:pink:b_1:s2:v1", next.Task)
	assert.Equal(t, 2, next.Step)
	_, err = b.store.Claim(ctx, "pink", "b_1", r.Version, 1, "a3")
	assertDropped(t, err, policy.AlreadySent)
	_, err = b.store.Finish(ctx, "pink", "b_1", r.Version, 1, InDoubt, nil)
	require.NoError(t, err)
	assert.Equal(t, "sent", b.claim(t, 1), "no other outcome replaces sent")

	_, err = b.store.Claim(ctx, "pink", "b_1", r.Version-1, 2, "a4")
	assertDropped(t, err, policy.Superseded)
	_, err = b.store.Claim(ctx, "pink", "nope", 1, 1, "a5")
	assertDropped(t, err, policy.Gone)
}

// A finish run again with the same request (its first run's WAIT went
// unconfirmed, so persist repeats it) writes its decision once; a decision
// made later, even one reading the same, is written again.
func TestAFinishRunTwiceRecordsItsDecisionOnce(t *testing.T) {
	t.Parallel()
	b := setupStore(t, 2)
	ctx := context.Background()
	r := b.apply(t, Updated, 0, true)
	b.handOver(t, r.Version)
	sent := Decision{At: b.t0.Add(time.Hour), Step: 1, Outcome: policy.Send}
	for range 2 {
		next, err := b.store.Finish(ctx, "pink", "b_1", r.Version, 1, Sent, &sent)
		require.NoError(t, err)
		assert.Equal(t, "remind:pink:b_1:s2:v1", next.Task, "the rerun names the same next step")
	}
	later := Decision{At: sent.At.Add(time.Minute), Step: 2, Outcome: policy.Drop, Reason: policy.FrequencyCap}
	require.NoError(t, b.store.Record(ctx, "pink", "b_1", later))
	require.NoError(t, b.store.Record(ctx, "pink", "b_1", later))
	again := later
	again.At = later.At.Add(time.Millisecond)
	require.NoError(t, b.store.Record(ctx, "pink", "b_1", again))

	got, err := b.store.Decisions(ctx, "pink", "b_1")
	require.NoError(t, err)
	assert.Equal(t, []Decision{sent, later, again}, got)
}

func TestClaimAfterHandOverIsInDoubt(t *testing.T) {
	t.Parallel()
	b := setupStore(t, 1)
	ctx := context.Background()
	r := b.apply(t, Updated, 0, true)
	b.handOver(t, r.Version)
	_, err := b.store.Claim(ctx, "pink", "b_1", r.Version, 1, "a2")
	assertDropped(t, err, policy.InDoubt)
	assert.Equal(t, "in_doubt", b.claim(t, 1))
	// The first attempt did get its reply after all: the truth wins.
	_, err = b.store.Finish(ctx, "pink", "b_1", r.Version, 1, Sent, nil)
	require.NoError(t, err)
	assert.Equal(t, "sent", b.claim(t, 1))
}

// An attempt whose lease an outage expired may still be at work after its
// hand-over: a run beside it that finds the hand-over young writes nothing
// and asks again later, and the live attempt, having sent nothing, frees
// the step for it. The hand-over is dated by its own TTL, however old the
// claim before it.
func TestAYoungHandOverIsAskedAboutAgainNotCalledInDoubt(t *testing.T) {
	t.Parallel()
	b := setupStore(t, 1)
	b.store.opts.HandOverLife = time.Minute
	ctx := context.Background()
	r := b.apply(t, Updated, 0, true)
	_, err := b.store.Claim(ctx, "pink", "b_1", r.Version, 1, "a1")
	require.NoError(t, err)
	require.NoError(t, b.rdb.PExpire(ctx, b.store.claimKey("pink", "b_1", 1), b.store.opts.ClaimTTL-time.Hour).Err(),
		"claimed an hour before its hand-over (waiting for a connection)")
	require.NoError(t, b.store.HandOver(ctx, "pink", "b_1", r.Version, 1, "a1", Suppression{Key: "ba:sup:{x}", Fields: []string{"*|all"}}, Pace{}))

	_, err = b.store.Claim(ctx, "pink", "b_1", r.Version, 1, "a2")
	var busy *ErrHandingOver
	require.ErrorAs(t, err, &busy)
	assert.InDelta(t, float64(time.Minute), float64(busy.Wait), float64(10*time.Second), "asked again once the hand-over is a minute old")
	assert.Equal(t, "handing_over:a1", b.claim(t, 1), "nothing written")

	require.NoError(t, b.store.Release(ctx, "pink", "b_1", 1, "a1", ""), "the live attempt sent nothing")
	_, err = b.store.Claim(ctx, "pink", "b_1", r.Version, 1, "a2")
	require.NoError(t, err, "and the step is claimed again, to be sent")
}

// A hand-over older than an attempt's life is a dead attempt's: in doubt.
func TestAHandOverOlderThanItsLifeIsInDoubt(t *testing.T) {
	t.Parallel()
	b := setupStore(t, 1)
	b.store.opts.HandOverLife = time.Minute
	ctx := context.Background()
	r := b.apply(t, Updated, 0, true)
	b.handOver(t, r.Version)
	require.NoError(t, b.rdb.PExpire(ctx, b.store.claimKey("pink", "b_1", 1), b.store.opts.ClaimTTL-time.Minute-time.Second).Err())
	_, err := b.store.Claim(ctx, "pink", "b_1", r.Version, 1, "a2")
	assertDropped(t, err, policy.InDoubt)
	assert.Equal(t, "in_doubt", b.claim(t, 1))
}

func TestHandOverHasTheLastWord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("suppression written after the claim", func(t *testing.T) {
		t.Parallel()
		b := setupStore(t, 1)
		r := b.apply(t, Updated, 0, true)
		_, err := b.store.Claim(ctx, "pink", "b_1", r.Version, 1, "a1")
		require.NoError(t, err)
		require.NoError(t, b.rdb.HSet(ctx, "ba:sup:{r1}", "pink|basket_assistance", "{}").Err())
		err = b.store.HandOver(ctx, "pink", "b_1", r.Version, 1, "a1",
			Suppression{Key: "ba:sup:{r1}", Fields: []string{"*|all", "*|basket_assistance", "pink|all", "pink|basket_assistance"}}, Pace{})
		assertDropped(t, err, policy.Suppressed)
		var d *ErrDropped
		require.ErrorAs(t, err, &d)
		assert.Equal(t, "pink|basket_assistance", d.Field)
		assert.Equal(t, "suppressed", b.claim(t, 1))
	})
	t.Run("purchase applied after the claim", func(t *testing.T) {
		t.Parallel()
		b := setupStore(t, 1)
		r := b.apply(t, Updated, 0, true)
		_, err := b.store.Claim(ctx, "pink", "b_1", r.Version, 1, "a1")
		require.NoError(t, err)
		b.apply(t, OrderCompleted, time.Minute, false)
		assertDropped(t, b.store.HandOver(ctx, "pink", "b_1", r.Version, 1, "a1", Suppression{Key: "ba:sup:{r1}", Fields: []string{"*|all"}}, Pace{}), policy.Purchased)
		assert.Empty(t, b.claim(t, 1), "nothing was handed over: the claim is freed")
	})
	t.Run("newer activity after the claim", func(t *testing.T) {
		t.Parallel()
		b := setupStore(t, 1)
		r := b.apply(t, Updated, 0, true)
		_, err := b.store.Claim(ctx, "pink", "b_1", r.Version, 1, "a1")
		require.NoError(t, err)
		b.apply(t, Updated, time.Minute, false)
		assertDropped(t, b.store.HandOver(ctx, "pink", "b_1", r.Version, 1, "a1", Suppression{Key: "ba:sup:{r1}", Fields: []string{"*|all"}}, Pace{}), policy.Superseded)
	})
}

func TestReleaseAllowsAnotherClaim(t *testing.T) {
	t.Parallel()
	b := setupStore(t, 1)
	ctx := context.Background()
	r := b.apply(t, Updated, 0, true)
	_, err := b.store.Claim(ctx, "pink", "b_1", r.Version, 1, "a1")
	require.NoError(t, err)
	require.NoError(t, b.store.Release(ctx, "pink", "b_1", 1, "someone-else", ""))
	assert.Equal(t, "claimed:a1", b.claim(t, 1), "only the claiming attempt releases")
	require.NoError(t, b.store.Release(ctx, "pink", "b_1", 1, "a1", ""))
	assert.Empty(t, b.claim(t, 1))
	_, err = b.store.Claim(ctx, "pink", "b_1", r.Version, 1, "a2")
	require.NoError(t, err)
	next, err := b.store.Finish(ctx, "pink", "b_1", r.Version, 1, Sent, nil)
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
	assert.NotEmpty(t, r.Task, "consent not stated: scheduled, for policy.consent to rule on at send time")

	e.ID, e.BasketID, e.Customer.Consent = "e2", "b_2", Consent{Stated: true} // "basket_assistance": false
	s, err = Seal(b.keys, e)
	require.NoError(t, err)
	r, err = b.store.Apply(context.Background(), s)
	require.NoError(t, err)
	assert.Empty(t, r.Task, "refused: never scheduled")
	_, err = b.store.Claim(context.Background(), "pink", "b_2", r.Version, 1, "a1")
	assertDropped(t, err, policy.NoConsent)
}

func assertDropped(t *testing.T, err error, reason policy.Reason) {
	t.Helper()
	var d *ErrDropped
	require.True(t, errors.As(err, &d), "want ErrDropped(%s), got %v", reason, err)
	assert.Equal(t, reason, d.Reason)
}

// A worker killed after the hand-over, then the shopper buys: the retry
// finds the basket purchased, and still records the step as in doubt,
// since the email may have gone.
func TestHandOverLeftByADeadAttemptIsRecordedInDoubtWhateverCameSince(t *testing.T) {
	t.Parallel()
	b := setupStore(t, 1)
	ctx := context.Background()
	r := b.apply(t, Updated, 0, true)
	b.handOver(t, r.Version)
	b.apply(t, OrderCompleted, time.Minute, false)

	_, err := b.store.Claim(ctx, "pink", "b_1", r.Version, 1, "a2")
	assertDropped(t, err, policy.InDoubt)
	assert.Equal(t, "in_doubt", b.claim(t, 1))
}

// A basket is one string (state.lua): an event carrying neither customer
// nor contents keeps both, one carrying contents keeps the customer.
func TestABasketIsOneKey(t *testing.T) {
	t.Parallel()
	b := setupStore(t, 1)
	ctx := context.Background()
	b.apply(t, Updated, 0, true)
	b.apply(t, CheckoutStarted, time.Minute, false) // neither: both stay
	b.apply(t, Updated, 2*time.Minute, false)       // new contents, the customer stays
	keys, err := b.rdb.Keys(ctx, "t:{pink:b_1}*").Result()
	require.NoError(t, err)
	assert.Equal(t, []string{"t:{pink:b_1}:state"}, keys, "no hash, data string or event marker beside it")
	got, err := b.store.Claim(ctx, "pink", "b_1", 3, 1, "a1")
	require.NoError(t, err)
	assert.Equal(t, "ann@example.com", got.Customer.Email)
	assert.Equal(t, int64(100+3), got.Contents.Items[0].UnitPrice)
	ttl, err := b.rdb.TTL(ctx, "t:{pink:b_1}:state").Result()
	require.NoError(t, err)
	assert.InDelta(t, (30 * 24 * time.Hour).Seconds(), ttl.Seconds(), 5, "the basket lives retention.basket")
}

// A repeat of one of the last applied events is a duplicate; one older
// than them is stale, and ignored too.
func TestRepeatedEventsAreNotAppliedAgain(t *testing.T) {
	t.Parallel()
	b := setupStore(t, 1)
	ctx := context.Background()
	var events []Sealed
	for i := range 6 {
		e, err := Seal(b.keys, Event{ID: fmt.Sprintf("e%d", i), Type: Updated, Storefront: "pink", BasketID: "b_1",
			OccurredAt: b.t0.Add(time.Duration(i) * time.Minute), Basket: &Contents{Currency: "GBP"}})
		require.NoError(t, err)
		events = append(events, e)
	}
	first, err := b.store.ApplyMany(ctx, events)
	require.NoError(t, err)
	again, err := b.store.ApplyMany(ctx, events)
	require.NoError(t, err)
	for i, r := range again {
		assert.Equal(t, Applied, first[i].Outcome)
		want := Duplicate
		if i < 2 {
			want = Ignored // older than the last four: stale
		}
		assert.Equal(t, want, r.Outcome, "repeat of e%d", i)
		assert.Equal(t, int64(6), r.Version, "nothing applied twice")
	}
}

// Baskets stored by earlier versions (a state hash with a data string, or
// everything in the hash, event-id markers, the person's index as a set)
// are read, and move to the state string, with their TTL, on their next
// change.
func TestBasketsOfTheEarlierLayoutsAreReadAndMoved(t *testing.T) {
	t.Parallel()
	b := setupStore(t, 1)
	ctx := context.Background()
	sealed, err := Seal(b.keys, Event{ID: "x", Type: Updated, Storefront: "pink", BasketID: "b_2", OccurredAt: b.t0,
		Customer: &Customer{Email: "bo@example.com", Consent: Consent{BasketAssistance: true}}})
	require.NoError(t, err)
	hash, data := b.store.legacyStateKey("pink", "b_2"), b.store.legacyDataKey("pink", "b_2")
	// Everything in the hash, contents in the contract's own JSON.
	require.NoError(t, b.rdb.HSet(ctx, hash, "v", 1, "at", b.t0.UnixMilli(), "status", "active", "sent", 0, "has_email", "1",
		"consent", "1", "customer", sealed.Customer, "contents", `{"currency":"GBP","items":[]}`,
		"task", TaskID("pink", "b_2", 1, 1)).Err())
	require.NoError(t, b.rdb.Expire(ctx, hash, time.Hour).Err())
	require.NoError(t, b.rdb.Set(ctx, b.store.legacyEventKey("pink", "b_2", "x"), "1", time.Hour).Err())
	require.NoError(t, b.rdb.SAdd(ctx, b.store.legacySubjectKey(sealed.Recipient), "pink:b_2").Err())

	got, err := b.store.Claim(ctx, "pink", "b_2", 1, 1, "a2")
	require.NoError(t, err)
	assert.Equal(t, "bo@example.com", got.Customer.Email, "read from the hash")
	assert.Equal(t, "GBP", got.Contents.Currency)
	ex, err := b.store.Explain(ctx, "pink", "b_2")
	require.NoError(t, err)
	require.NotNil(t, ex.Task)
	assert.Equal(t, TaskID("pink", "b_2", 1, 1), *ex.Task)
	r, err := b.store.Apply(ctx, sealed)
	require.NoError(t, err)
	assert.Equal(t, Duplicate, r.Outcome, "the marker of an earlier version still counts")

	// A hash with a data string beside it; an outcome moves it, with its TTL.
	require.NoError(t, b.rdb.HDel(ctx, hash, "customer", "contents").Err())
	require.NoError(t, b.rdb.Set(ctx, data, fmt.Sprintf("%d:%s%s", len(sealed.Customer), sealed.Customer, `{"c":"EUR","i":[]}`), 0).Err())
	fin, err := b.store.Finish(ctx, "pink", "b_2", 1, 1, Failed, nil)
	require.NoError(t, err)
	assert.Empty(t, fin.Task)
	n, err := b.rdb.Exists(ctx, hash, data).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "moved off the earlier keys")
	ttl, err := b.rdb.TTL(ctx, b.store.stateKey("pink", "b_2")).Result()
	require.NoError(t, err)
	assert.InDelta(t, time.Hour.Seconds(), ttl.Seconds(), 5, "with the TTL it had")
	ex, err = b.store.Explain(ctx, "pink", "b_2")
	require.NoError(t, err)
	assert.Nil(t, ex.Task, "the failed step ended the sequence")

	who, err := secrets.ParseRecipient(sealed.Recipient)
	require.NoError(t, err)
	export, err := b.store.Export(ctx, who)
	require.NoError(t, err)
	require.Len(t, export, 1, "found through the person's index as a set")
	assert.Equal(t, "bo@example.com", export[0].Customer.Email)
	assert.Equal(t, "EUR", export[0].Contents.Currency)
	baskets, _, err := b.store.Forget(ctx, who)
	require.NoError(t, err)
	assert.Equal(t, 1, baskets)
	left, err := b.rdb.Keys(ctx, "t:*b_2*").Result()
	require.NoError(t, err)
	assert.Equal(t, []string{b.store.legacyEventKey("pink", "b_2", "x")}, left, "only the marker, which names no one")
}

// The scripts that change only the header (claim, finish) rewrite it in
// place when it keeps its length, and rewrite the whole string when it
// does not; either way the sealed customer and the contents come through
// untouched and the basket keeps its TTL.
func TestHeaderChangesKeepTheBodyAndTheTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	run := func(t *testing.T, step int, wantSent int) {
		b := setupStore(t, 10)
		b.apply(t, Updated, 0, true)
		key := "t:{pink:b_1}:state"
		before, err := b.rdb.Get(ctx, key).Result()
		require.NoError(t, err)
		st0, ok := parseState(before)
		require.True(t, ok)
		require.NotEmpty(t, st0.Customer)
		require.NotEmpty(t, st0.Contents)
		require.NoError(t, b.rdb.Expire(ctx, key, time.Hour).Err())
		_, err = b.store.Claim(ctx, "pink", "b_1", 1, step, "a1")
		require.NoError(t, err)
		require.NoError(t, b.store.HandOver(ctx, "pink", "b_1", 1, step, "a1", Suppression{Key: "t:sup:{x}", Fields: []string{"all"}}, Pace{Now: b.t0}))
		_, err = b.store.Finish(ctx, "pink", "b_1", 1, step, Sent, nil)
		require.NoError(t, err)
		after, err := b.rdb.Get(ctx, key).Result()
		require.NoError(t, err)
		st, ok := parseState(after)
		require.True(t, ok, "%q", after)
		assert.Equal(t, wantSent, st.Sent)
		assert.Equal(t, st0.Customer, st.Customer)
		assert.Equal(t, st0.Contents, st.Contents)
		ttl, err := b.rdb.TTL(ctx, key).Result()
		require.NoError(t, err)
		assert.InDelta(t, time.Hour.Seconds(), ttl.Seconds(), 5, "the basket keeps its TTL")
	}
	t.Run("same length: in place", func(t *testing.T) { run(t, 1, 1) })
	t.Run("longer: rewritten", func(t *testing.T) { run(t, 10, 10) }) // sent 0 -> 10 adds a digit
}

// A late bounce names its step: the send record keeps each step's
// recipient, since the basket's customer may change between steps.
func TestSentToNamesEachStepsRecipient(t *testing.T) {
	t.Parallel()
	b := setupStore(t, 2)
	ctx := context.Background()
	r := b.apply(t, Updated, 0, true)
	for step, rcpt := range map[int]string{1: "recipient-one", 2: "recipient-two"} {
		_, err := b.store.Claim(ctx, "pink", "b_1", r.Version, step, "a1")
		require.NoError(t, err)
		require.NoError(t, b.store.HandOver(ctx, "pink", "b_1", r.Version, step, "a1",
			Suppression{Key: "ba:sup:{x}", Fields: []string{"*|all"}, Recipient: rcpt}, Pace{}))
	}
	for step, want := range map[int]string{1: "recipient-one", 2: "recipient-two"} {
		send, ok, err := b.store.SentTo(ctx, SendKey("pink", "b_1"), step)
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, Send{Storefront: "pink", BasketID: "b_1", Recipient: want}, send, "step %d", step)
	}

	// A record written before steps had their own recipient names the latest.
	legacy := SendKey("pink", "b_old")
	require.NoError(t, b.rdb.HSet(ctx, b.store.sentKey(legacy), "sf", "pink", "b", "b_old", "r", "recipient-latest").Err())
	send, ok, err := b.store.SentTo(ctx, legacy, 1)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "recipient-latest", send.Recipient)
	_, ok, err = b.store.SentTo(ctx, SendKey("pink", "b_none"), 1)
	require.NoError(t, err)
	assert.False(t, ok, "no record")
}

// A soft bounce of a send is noted once; a send record that is gone gets
// no note (it would outlive the record, with no TTL).
func TestFirstSoftBounceOncePerSendAndNeverWithoutARecord(t *testing.T) {
	t.Parallel()
	b := setupStore(t, 1)
	ctx := context.Background()
	key := SendKey("pink", "b_1")
	require.NoError(t, b.rdb.HSet(ctx, b.store.sentKey(key), "sf", "pink", "b", "b_1", "r1", "recipient").Err())
	require.NoError(t, b.rdb.Expire(ctx, b.store.sentKey(key), time.Hour).Err())
	for i, want := range []bool{true, false, false} {
		first, err := b.store.FirstSoftBounce(ctx, key, 1)
		require.NoError(t, err)
		assert.Equal(t, want, first, "note %d", i+1)
	}
	first, err := b.store.FirstSoftBounce(ctx, key, 2)
	require.NoError(t, err)
	assert.True(t, first, "another step is another email")

	gone := SendKey("pink", "b_gone")
	first, err = b.store.FirstSoftBounce(ctx, gone, 1)
	require.NoError(t, err)
	assert.False(t, first)
	assert.Zero(t, b.rdb.Exists(ctx, b.store.sentKey(gone)).Val(), "no record made")
}
