package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/config"
	"github.com/basketassist/basketassist/policy"
)

// explain reads a basket's explanation through the admin API.
func (b *bundle) explain(basketID string) (basket.Explanation, int) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.baseURL+"/v1/baskets/pink/"+basketID, nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	var ex basket.Explanation
	if resp.StatusCode == http.StatusOK {
		require.NoError(b.t, json.NewDecoder(resp.Body).Decode(&ex))
	}
	return ex, resp.StatusCode
}

// decisionOf waits for the basket's first decision.
func (b *bundle) decisionOf(basketID string) basket.Decision {
	b.t.Helper()
	var ex basket.Explanation
	require.Eventually(b.t, func() bool {
		ex, _ = b.explain(basketID)
		return len(ex.Decisions) > 0
	}, 15*time.Second, 20*time.Millisecond, "basket %s gets a decision", basketID)
	return ex.Decisions[0]
}

func withCap(c *config.Config) { c.Policy.FrequencyCap = policy.Cap{Max: 1, Per: 24 * time.Hour} }

// Three baskets of one address within a second, cap one a day: one email,
// and two deferrals to the exact instant the cap allows the next, which
// GET /v1/baskets and `explain` show.
func TestFrequencyCapThroughMain(t *testing.T) {
	t.Parallel()
	b := setup(t, realRedis, withCap)
	b.send(b.event(basket.Updated, "b_c1", "capped@example.com"), b.event(basket.Updated, "b_c2", "capped@example.com"),
		b.event(basket.Updated, "b_c3", "capped@example.com"))
	var got []basket.Decision
	for _, id := range []string{"b_c1", "b_c2", "b_c3"} {
		got = append(got, b.decisionOf(id))
	}
	require.Len(t, b.smtp.WaitFor(t, 1, 15*time.Second), 1)
	var sent *basket.Decision
	deferred := 0
	for i := range got {
		switch got[i].Outcome {
		case policy.Send:
			sent = &got[i]
		case policy.Defer:
			deferred++
		}
	}
	require.NotNil(t, sent, "one basket's reminder was sent: %+v", got)
	require.Equal(t, 2, deferred, "%+v", got)
	for _, d := range got {
		if d.Outcome != policy.Defer {
			continue
		}
		assert.Equal(t, policy.FrequencyCap, d.Reason)
		require.NotNil(t, d.Until)
		// The slot opens 24 h after the hand-over, which is just before the
		// sent decision is written.
		assert.WithinRange(t, *d.Until, sent.At.Add(24*time.Hour-2*time.Second), sent.At.Add(24*time.Hour))
	}
	assert.Contains(t, b.get(t, "/metrics", testAdminToken), `basketassist_reminders_deferred_total{reason="frequency_cap"} 2`)
	assert.Len(t, b.smtp.Messages(), 1, "still one")

	for _, id := range []string{"b_c1", "b_c2", "b_c3"} {
		ex, _ := b.explain(id)
		if ex.Decisions[0].Outcome == policy.Defer {
			require.NotNil(t, ex.NextDue, "the deferred task waits in the queue")
			assert.WithinDuration(t, *ex.Decisions[0].Until, *ex.NextDue, 2*time.Second)
			out, _, err := runCLI(t, "", "--config", writeYAML(t, b.cfg), "explain", "--storefront", "pink", "--basket", id)
			require.NoError(t, err)
			t.Logf("explain of a deferred basket:\n%s", out)
			assert.Contains(t, out, "deferred    frequency_cap  until ")
			break
		}
	}
	_, status := b.explain("b_unknown")
	assert.Equal(t, http.StatusNotFound, status)
}

// Quiet hours through Main with the clock set to 23:48 in London: the
// reminder is deferred to 08:00 London time, and nothing is sent.
func TestQuietHoursThroughMain(t *testing.T) {
	t.Parallel()
	london, err := time.LoadLocation("Europe/London")
	require.NoError(t, err)
	real := time.Now()
	// The last 23:48 in London: in the past, so asynq runs the reminder at once.
	l := real.In(london)
	target := time.Date(l.Year(), l.Month(), l.Day(), 23, 48, 0, 0, london)
	if target.After(real) {
		target = time.Date(l.Year(), l.Month(), l.Day()-1, 23, 48, 0, 0, london)
	}
	offset := target.Sub(real)
	clock := func() time.Time { return time.Now().Add(offset) }
	b := setupMain(t, realRedis, func(m *Main) { m.Now = clock }, func(c *config.Config) {
		c.Policy.QuietHours = policy.Hours{Start: "21:00", End: "08:00"}
	})
	e := b.event(basket.Updated, "b_night", "owl@example.com")
	e.OccurredAt, e.Customer.Timezone = clock().UTC(), "Europe/London"
	b.send(e)
	// asynq runs it by the wall clock, at once; by the injected clock it
	// may be a moment early (not_due) before quiet hours defer it.
	var d basket.Decision
	require.Eventually(t, func() bool {
		ex, _ := b.explain("b_night")
		for _, x := range ex.Decisions {
			if x.Reason == policy.QuietHours {
				d = x
				return true
			}
		}
		return false
	}, 15*time.Second, 20*time.Millisecond)
	assert.Equal(t, policy.Defer, d.Outcome)
	require.NotNil(t, d.Until)
	morning := target.AddDate(0, 0, 1)
	want := time.Date(morning.Year(), morning.Month(), morning.Day(), 8, 0, 0, 0, london)
	assert.True(t, want.Equal(*d.Until), "deferred to 08:00 London, got %s", d.Until.In(london))
	assert.Empty(t, b.smtp.Messages())
	assert.Contains(t, b.get(t, "/metrics", testAdminToken), `basketassist_reminders_deferred_total{reason="quiet_hours"} 1`)
}

// Dropped for good, with the reason recorded: under 16, an order at the
// storefront for another basket of the same person, too old, and too
// small; a dry run sends nothing and records would_send.
func TestPolicyDropsAndDryRunThroughMain(t *testing.T) {
	t.Parallel()
	b := setup(t, realRedis, func(c *config.Config) {
		c.Reminders.Steps = []config.Step{{After: 2 * time.Second}}
		c.Policy.MinValue = map[string]int64{"GBP": 5000}
		c.Storefronts = append(c.Storefronts, config.Storefront{ID: "dry", Name: "Dry Shirts", From: "Dry <hi@dry.example>",
			APIKey: "dry-api-key-0123456789", BasketURL: "https://dry.example/b/{basket_id}", PostalAddress: "2 Street",
			Policy: config.PolicyOverride{DryRun: new(true)}})
	})
	young := b.event(basket.Updated, "b_u16", "young@example.com")
	young.Customer.Under16 = true
	small := b.event(basket.Updated, "b_small", "small@example.com", basket.Item{SKU: "S", Name: "Socks", Quantity: 1, UnitPrice: 900})
	old := b.event(basket.Updated, "b_old", "old@example.com")
	old.OccurredAt = time.Now().Add(-73 * time.Hour).UTC()
	// ann has two baskets; she orders the second, naming herself.
	first := b.event(basket.Updated, "b_ann1", "ann@example.com")
	second := b.event(basket.Updated, "b_ann2", "ann@example.com")
	order := b.event(basket.OrderCompleted, "b_ann2", "ann@example.com")
	b.send(young, small, old, first, second, order)

	for id, reason := range map[string]policy.Reason{"b_u16": policy.Under16, "b_small": policy.BelowMinValue,
		"b_old": policy.TooOld, "b_ann1": policy.Ordered} {
		d := b.decisionOf(id)
		assert.Equal(t, policy.Drop, d.Outcome, id)
		assert.Equal(t, reason, d.Reason, id)
	}
	out, _, err := runCLI(t, "", "--config", writeYAML(t, b.cfg), "explain", "--storefront", "pink", "--basket", "b_u16")
	require.NoError(t, err)
	t.Logf("explain of a dropped basket:\n%s", out)
	assert.Contains(t, out, "dropped     under_16")

	dry := b.event(basket.Updated, "b_dry", "dry@example.com")
	dry.Storefront = "dry"
	c := &basket.Client{BaseURL: b.baseURL, APIKey: "dry-api-key-0123456789"}
	_, err = c.Send(t.Context(), dry)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		req, _ := http.NewRequest(http.MethodGet, b.baseURL+"/v1/baskets/dry/b_dry", nil)
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var ex basket.Explanation
		_ = json.NewDecoder(resp.Body).Decode(&ex)
		return len(ex.Decisions) == 1 && ex.Decisions[0].Outcome == policy.WouldSend
	}, 15*time.Second, 20*time.Millisecond)
	b.settle(10 * time.Second)
	assert.Empty(t, b.smtp.Messages(), "nothing went to SMTP")
	assert.NotContains(t, strings.ToLower(b.logs.String()), "young@example.com")
}
