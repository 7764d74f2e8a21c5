package policy

import (
	"fmt"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the same zone rules wherever the tests run

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wall is how the tests spell a local wall time with its offset.
const wall = "2006-01-02 15:04 -07:00"

func loadLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err, "time.LoadLocation(%q)", name)
	return loc
}

// assertInstant checks that got is exactly the instant want (any zone).
func assertInstant(t *testing.T, want, got time.Time) {
	t.Helper()
	assert.Truef(t, want.Equal(got), "want instant %s, got %s",
		want.UTC().Format(time.RFC3339Nano), got.UTC().Format(time.RFC3339Nano))
	assert.Equal(t, want.UTC(), got.UTC())
}

// sendable is an input Decide sends: consent given, a fresh basket, the
// default policy with quiet hours off, no earlier emails.
func sendable(now time.Time) Input {
	p := Default()
	p.QuietHours = Hours{}
	return Input{
		Now:          now,
		Step:         1,
		LastActivity: now.Add(-time.Hour),
		Consent:      ConsentGiven,
		Currency:     "GBP",
		Total:        5000,
		Policy:       p,
	}
}

func TestFrequencyCapDefersToTheExactNextSlot(t *testing.T) {
	london := loadLoc(t, "Europe/London")
	T := time.Date(2026, time.May, 12, 10, 0, 0, 0, london)

	decide := func(c Cap, sent []time.Time, now time.Time) Decision {
		in := sendable(now)
		in.Policy.FrequencyCap = c
		in.Sent = sent
		return Decide(in)
	}
	assertDefer := func(t *testing.T, d Decision, until time.Time) {
		t.Helper()
		assert.Equal(t, Defer, d.Outcome)
		assert.Equal(t, FrequencyCap, d.Reason)
		assertInstant(t, until, d.Until)
	}

	t.Run("one per 24h", func(t *testing.T) {
		c := Cap{Max: 1, Per: 24 * time.Hour}
		sent := []time.Time{T}
		assertDefer(t, decide(c, sent, T.Add(10*time.Minute)), T.Add(24*time.Hour))
		assertDefer(t, decide(c, sent, T), T.Add(24*time.Hour))
		assertDefer(t, decide(c, sent, T.Add(24*time.Hour-time.Second)), T.Add(24*time.Hour))
		assert.Equal(t, Decision{Outcome: Send}, decide(c, sent, T.Add(24*time.Hour)))
		assert.Equal(t, Decision{Outcome: Send}, decide(c, sent, T.Add(25*time.Hour)))
		assert.Equal(t, Decision{Outcome: Send}, decide(c, nil, T.Add(10*time.Minute)))
	})

	t.Run("the period is a duration, also across a DST change", func(t *testing.T) {
		c := Cap{Max: 1, Per: 24 * time.Hour}
		sent := time.Date(2026, time.March, 28, 10, 0, 0, 0, london) // GMT
		d := decide(c, []time.Time{sent}, sent.Add(time.Hour))
		want := time.Date(2026, time.March, 29, 10, 0, 0, 0, time.UTC) // 11:00 BST
		assertDefer(t, d, want)
		assert.Equal(t, "2026-03-29 11:00 +01:00", d.Until.In(london).Format(wall))
	})

	t.Run("two per hour", func(t *testing.T) {
		c := Cap{Max: 2, Per: time.Hour}
		sent := []time.Time{T, T.Add(20 * time.Minute)}
		assertDefer(t, decide(c, sent, T.Add(30*time.Minute)), T.Add(time.Hour))
		// order of the history does not matter
		assertDefer(t, decide(c, []time.Time{sent[1], sent[0]}, T.Add(30*time.Minute)), T.Add(time.Hour))
		assertDefer(t, decide(c, sent, T.Add(time.Hour-time.Nanosecond)), T.Add(time.Hour))
		assert.Equal(t, Decision{Outcome: Send}, decide(c, sent, T.Add(time.Hour)))
		// one email in the period is under the cap
		assert.Equal(t, Decision{Outcome: Send}, decide(c, sent[:1], T.Add(30*time.Minute)))
	})

	t.Run("more than max in the period waits for enough to leave", func(t *testing.T) {
		c := Cap{Max: 2, Per: time.Hour}
		sent := []time.Time{T.Add(25 * time.Minute), T, T.Add(20 * time.Minute)}
		assertDefer(t, decide(c, sent, T.Add(30*time.Minute)), T.Add(80*time.Minute))
		assert.Equal(t, Decision{Outcome: Send}, decide(c, sent, T.Add(80*time.Minute)))

		// ten emails in the period (the cap was off) under a cap of one:
		// the slot is a period after the newest, in one decision
		var ten []time.Time
		for i := range 10 {
			ten = append(ten, T.Add(time.Duration(9-i)*time.Minute))
		}
		one := Cap{Max: 1, Per: 24 * time.Hour}
		assertDefer(t, decide(one, ten, T.Add(10*time.Minute)), T.Add(24*time.Hour+9*time.Minute))
		assert.Equal(t, Decision{Outcome: Send}, decide(one, ten, T.Add(24*time.Hour+9*time.Minute)))
	})

	t.Run("emails outside the period do not count", func(t *testing.T) {
		c := Cap{Max: 1, Per: 24 * time.Hour}
		assert.Equal(t, Decision{Outcome: Send}, decide(c, []time.Time{T.Add(-24 * time.Hour)}, T))
		assert.Equal(t, Decision{Outcome: Send}, decide(c, []time.Time{T.Add(-48 * time.Hour)}, T))
		assertDefer(t, decide(c, []time.Time{T.Add(-24*time.Hour + time.Second)}, T), T.Add(time.Second))
	})

	t.Run("an email dated ahead of this clock counts, as in the hand-over's check", func(t *testing.T) {
		c := Cap{Max: 1, Per: 24 * time.Hour}
		ahead := T.Add(3 * time.Second) // another worker's clock runs 3 s ahead
		assertDefer(t, decide(c, []time.Time{ahead}, T), ahead.Add(24*time.Hour))
	})

	t.Run("max 0 disables", func(t *testing.T) {
		sent := []time.Time{T, T.Add(time.Minute), T.Add(2 * time.Minute)}
		assert.Equal(t, Decision{Outcome: Send}, decide(Cap{Max: 0, Per: 24 * time.Hour}, sent, T.Add(3*time.Minute)))
		assert.Equal(t, Decision{Outcome: Send}, decide(Cap{}, sent, T.Add(3*time.Minute)))
	})
}

func TestThreeBasketsInAMinuteGiveOneEmailAndTwoDeferrals(t *testing.T) {
	london := loadLoc(t, "Europe/London")
	T := time.Date(2026, time.May, 12, 10, 0, 0, 0, london)
	p := Default()
	p.QuietHours = Hours{}

	var sent []time.Time
	var sends, defers int
	for i, at := range []time.Time{T, T.Add(20 * time.Second), T.Add(40 * time.Second)} {
		d := Decide(Input{
			Now:          at,
			Step:         1,
			LastActivity: at.Add(-time.Hour),
			Consent:      ConsentGiven,
			Currency:     "GBP",
			Total:        int64(1000 * (i + 1)),
			Location:     london,
			Sent:         sent,
			Policy:       p,
		})
		switch d.Outcome {
		case Send:
			sends++
			sent = append(sent, at)
			assert.Equal(t, 0, i, "only the first basket is sent")
		case Defer:
			defers++
			assert.Equal(t, FrequencyCap, d.Reason, "basket %d", i)
			assertInstant(t, T.Add(24*time.Hour), d.Until)
		default:
			t.Errorf("basket %d: unexpected decision %+v", i, d)
		}
	}
	assert.Equal(t, 1, sends)
	assert.Equal(t, 2, defers)
	assert.Equal(t, []time.Time{T}, sent)
}

type quietCase struct {
	name       string
	zone       string    // "" is a nil Location
	now        time.Time // the decision, in UTC
	local      string    // now in zone (checks the table's own arithmetic)
	quiet      bool
	untilLocal string    // the deferral's end in zone
	until      time.Time // the same, in UTC
}

func runQuietCases(t *testing.T, h Hours, cases []quietCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var loc *time.Location
			display := time.UTC
			if c.zone != "" {
				loc = loadLoc(t, c.zone)
				display = loc
			}
			require.Equal(t, c.local, c.now.In(display).Format(wall), "table: local time of the decision")

			in := sendable(c.now)
			in.Location = loc
			in.Policy.QuietHours = h
			d := Decide(in)
			if !c.quiet {
				assert.Equal(t, Decision{Outcome: Send}, d)
				return
			}
			require.Equal(t, c.untilLocal, c.until.In(display).Format(wall), "table: local time of until")
			assert.Equal(t, Defer, d.Outcome)
			assert.Equal(t, QuietHours, d.Reason)
			assertInstant(t, c.until, d.Until)
			assert.Equal(t, c.untilLocal, d.Until.In(display).Format(wall))

			// At the end of the quiet hours it sends.
			in.Now = c.until
			assert.Equal(t, Decision{Outcome: Send}, Decide(in), "at until")
		})
	}
}

func TestQuietHoursAcrossTimeZonesAndDST(t *testing.T) {
	u := func(y int, mo time.Month, d, h, mi int) time.Time { return time.Date(y, mo, d, h, mi, 0, 0, time.UTC) }

	t.Run("21:00-08:00", func(t *testing.T) {
		const (
			lon = "Europe/London"
			kol = "Asia/Kolkata"
			la  = "America/Los_Angeles"
			cha = "Pacific/Chatham"
		)
		runQuietCases(t, Hours{Start: "21:00", End: "08:00"}, []quietCase{
			// Europe/London, clocks go forward 2026-03-29 01:00 GMT -> 02:00 BST.
			{"London/forward/22:30 GMT the night before", lon, u(2026, 3, 28, 22, 30), "2026-03-28 22:30 +00:00", true, "2026-03-29 08:00 +01:00", u(2026, 3, 29, 7, 0)},
			{"London/forward/00:30 GMT before the jump", lon, u(2026, 3, 29, 0, 30), "2026-03-29 00:30 +00:00", true, "2026-03-29 08:00 +01:00", u(2026, 3, 29, 7, 0)},
			{"London/forward/02:00 BST after the jump", lon, u(2026, 3, 29, 1, 0), "2026-03-29 02:00 +01:00", true, "2026-03-29 08:00 +01:00", u(2026, 3, 29, 7, 0)},
			{"London/forward/07:59 BST is quiet", lon, u(2026, 3, 29, 6, 59), "2026-03-29 07:59 +01:00", true, "2026-03-29 08:00 +01:00", u(2026, 3, 29, 7, 0)},
			{"London/forward/08:00 BST is not", lon, u(2026, 3, 29, 7, 0), "2026-03-29 08:00 +01:00", false, "", time.Time{}},
			{"London/forward/08:30 BST (07:30 UTC) is not", lon, u(2026, 3, 29, 7, 30), "2026-03-29 08:30 +01:00", false, "", time.Time{}},
			{"London/forward/20:59 BST is not", lon, u(2026, 3, 29, 19, 59), "2026-03-29 20:59 +01:00", false, "", time.Time{}},
			{"London/forward/21:00 BST is quiet", lon, u(2026, 3, 29, 20, 0), "2026-03-29 21:00 +01:00", true, "2026-03-30 08:00 +01:00", u(2026, 3, 30, 7, 0)},
			// Europe/London, clocks go back 2026-10-25 02:00 BST -> 01:00 GMT.
			{"London/back/23:00 BST the night before", lon, u(2026, 10, 24, 22, 0), "2026-10-24 23:00 +01:00", true, "2026-10-25 08:00 +00:00", u(2026, 10, 25, 8, 0)},
			{"London/back/21:00 BST is quiet", lon, u(2026, 10, 24, 20, 0), "2026-10-24 21:00 +01:00", true, "2026-10-25 08:00 +00:00", u(2026, 10, 25, 8, 0)},
			{"London/back/01:30 BST first pass of the repeated hour", lon, u(2026, 10, 25, 0, 30), "2026-10-25 01:30 +01:00", true, "2026-10-25 08:00 +00:00", u(2026, 10, 25, 8, 0)},
			{"London/back/01:30 GMT second pass of the repeated hour", lon, u(2026, 10, 25, 1, 30), "2026-10-25 01:30 +00:00", true, "2026-10-25 08:00 +00:00", u(2026, 10, 25, 8, 0)},
			{"London/back/07:30 GMT is quiet", lon, u(2026, 10, 25, 7, 30), "2026-10-25 07:30 +00:00", true, "2026-10-25 08:00 +00:00", u(2026, 10, 25, 8, 0)},
			{"London/back/07:59 GMT is quiet", lon, u(2026, 10, 25, 7, 59), "2026-10-25 07:59 +00:00", true, "2026-10-25 08:00 +00:00", u(2026, 10, 25, 8, 0)},
			{"London/back/08:00 GMT is not", lon, u(2026, 10, 25, 8, 0), "2026-10-25 08:00 +00:00", false, "", time.Time{}},
			{"London/back/14:00 GMT daytime", lon, u(2026, 10, 25, 14, 0), "2026-10-25 14:00 +00:00", false, "", time.Time{}},
			// Asia/Kolkata, +05:30 all year.
			{"Kolkata/21:30 IST", kol, u(2026, 6, 1, 16, 0), "2026-06-01 21:30 +05:30", true, "2026-06-02 08:00 +05:30", u(2026, 6, 2, 2, 30)},
			{"Kolkata/21:00 IST is quiet", kol, u(2026, 6, 1, 15, 30), "2026-06-01 21:00 +05:30", true, "2026-06-02 08:00 +05:30", u(2026, 6, 2, 2, 30)},
			{"Kolkata/20:59 IST is not", kol, u(2026, 6, 1, 15, 29), "2026-06-01 20:59 +05:30", false, "", time.Time{}},
			{"Kolkata/00:15 IST is already the next local day", kol, u(2026, 6, 1, 18, 45), "2026-06-02 00:15 +05:30", true, "2026-06-02 08:00 +05:30", u(2026, 6, 2, 2, 30)},
			{"Kolkata/07:59 IST is quiet", kol, u(2026, 6, 2, 2, 29), "2026-06-02 07:59 +05:30", true, "2026-06-02 08:00 +05:30", u(2026, 6, 2, 2, 30)},
			{"Kolkata/08:00 IST is not", kol, u(2026, 6, 2, 2, 30), "2026-06-02 08:00 +05:30", false, "", time.Time{}},
			{"Kolkata/14:00 IST daytime", kol, u(2026, 6, 2, 8, 30), "2026-06-02 14:00 +05:30", false, "", time.Time{}},
			// America/Los_Angeles, forward 2026-03-08 02:00 PST -> 03:00 PDT.
			{"LA/forward/22:00 PST the night before", la, u(2026, 3, 8, 6, 0), "2026-03-07 22:00 -08:00", true, "2026-03-08 08:00 -07:00", u(2026, 3, 8, 15, 0)},
			{"LA/forward/01:59 PST before the jump", la, u(2026, 3, 8, 9, 59), "2026-03-08 01:59 -08:00", true, "2026-03-08 08:00 -07:00", u(2026, 3, 8, 15, 0)},
			{"LA/forward/03:00 PDT after the jump", la, u(2026, 3, 8, 10, 0), "2026-03-08 03:00 -07:00", true, "2026-03-08 08:00 -07:00", u(2026, 3, 8, 15, 0)},
			{"LA/forward/07:30 PDT is quiet", la, u(2026, 3, 8, 14, 30), "2026-03-08 07:30 -07:00", true, "2026-03-08 08:00 -07:00", u(2026, 3, 8, 15, 0)},
			{"LA/forward/08:00 PDT is not", la, u(2026, 3, 8, 15, 0), "2026-03-08 08:00 -07:00", false, "", time.Time{}},
			{"LA/forward/14:00 PDT daytime", la, u(2026, 3, 8, 21, 0), "2026-03-08 14:00 -07:00", false, "", time.Time{}},
			// America/Los_Angeles, back 2026-11-01 02:00 PDT -> 01:00 PST.
			{"LA/back/23:00 PDT the night before", la, u(2026, 11, 1, 6, 0), "2026-10-31 23:00 -07:00", true, "2026-11-01 08:00 -08:00", u(2026, 11, 1, 16, 0)},
			{"LA/back/01:30 PDT first pass of the repeated hour", la, u(2026, 11, 1, 8, 30), "2026-11-01 01:30 -07:00", true, "2026-11-01 08:00 -08:00", u(2026, 11, 1, 16, 0)},
			{"LA/back/01:30 PST second pass of the repeated hour", la, u(2026, 11, 1, 9, 30), "2026-11-01 01:30 -08:00", true, "2026-11-01 08:00 -08:00", u(2026, 11, 1, 16, 0)},
			{"LA/back/07:59 PST is quiet", la, u(2026, 11, 1, 15, 59), "2026-11-01 07:59 -08:00", true, "2026-11-01 08:00 -08:00", u(2026, 11, 1, 16, 0)},
			{"LA/back/08:00 PST is not", la, u(2026, 11, 1, 16, 0), "2026-11-01 08:00 -08:00", false, "", time.Time{}},
			{"LA/back/21:00 PST is quiet", la, u(2026, 11, 2, 5, 0), "2026-11-01 21:00 -08:00", true, "2026-11-02 08:00 -08:00", u(2026, 11, 2, 16, 0)},
			// Pacific/Chatham, DST ends 2026-04-05 03:45 +1345 -> 02:45 +1245.
			{"Chatham/back/22:00 +1345 the night before", cha, u(2026, 4, 4, 8, 15), "2026-04-04 22:00 +13:45", true, "2026-04-05 08:00 +12:45", u(2026, 4, 4, 19, 15)},
			{"Chatham/back/03:00 +1345 first pass of the repeated hour", cha, u(2026, 4, 4, 13, 15), "2026-04-05 03:00 +13:45", true, "2026-04-05 08:00 +12:45", u(2026, 4, 4, 19, 15)},
			{"Chatham/back/03:00 +1245 second pass of the repeated hour", cha, u(2026, 4, 4, 14, 15), "2026-04-05 03:00 +12:45", true, "2026-04-05 08:00 +12:45", u(2026, 4, 4, 19, 15)},
			{"Chatham/back/07:59 +1245 is quiet", cha, u(2026, 4, 4, 19, 14), "2026-04-05 07:59 +12:45", true, "2026-04-05 08:00 +12:45", u(2026, 4, 4, 19, 15)},
			{"Chatham/back/08:00 +1245 is not", cha, u(2026, 4, 4, 19, 15), "2026-04-05 08:00 +12:45", false, "", time.Time{}},
			{"Chatham/back/14:00 +1245 daytime", cha, u(2026, 4, 5, 1, 15), "2026-04-05 14:00 +12:45", false, "", time.Time{}},
			// Pacific/Chatham, DST starts 2026-09-27 02:45 +1245 -> 03:45 +1345.
			{"Chatham/forward/22:00 +1245 the night before", cha, u(2026, 9, 26, 9, 15), "2026-09-26 22:00 +12:45", true, "2026-09-27 08:00 +13:45", u(2026, 9, 26, 18, 15)},
			{"Chatham/forward/02:44 +1245 before the jump", cha, u(2026, 9, 26, 13, 59), "2026-09-27 02:44 +12:45", true, "2026-09-27 08:00 +13:45", u(2026, 9, 26, 18, 15)},
			{"Chatham/forward/03:45 +1345 after the jump", cha, u(2026, 9, 26, 14, 0), "2026-09-27 03:45 +13:45", true, "2026-09-27 08:00 +13:45", u(2026, 9, 26, 18, 15)},
			{"Chatham/forward/08:00 +1345 is not", cha, u(2026, 9, 26, 18, 15), "2026-09-27 08:00 +13:45", false, "", time.Time{}},
			{"Chatham/forward/21:00 +1345 is quiet", cha, u(2026, 9, 27, 7, 15), "2026-09-27 21:00 +13:45", true, "2026-09-28 08:00 +13:45", u(2026, 9, 27, 18, 15)},
			// A nil Location is UTC.
			{"nil location/21:30 UTC", "", u(2026, 6, 1, 21, 30), "2026-06-01 21:30 +00:00", true, "2026-06-02 08:00 +00:00", u(2026, 6, 2, 8, 0)},
			{"nil location/16:00 UTC (21:30 in Kolkata) sends", "", u(2026, 6, 1, 16, 0), "2026-06-01 16:00 +00:00", false, "", time.Time{}},
			{"nil location/07:59 UTC", "", u(2026, 6, 2, 7, 59), "2026-06-02 07:59 +00:00", true, "2026-06-02 08:00 +00:00", u(2026, 6, 2, 8, 0)},
		})
	})

	t.Run("01:00-06:00 does not wrap", func(t *testing.T) {
		const lon = "Europe/London"
		runQuietCases(t, Hours{Start: "01:00", End: "06:00"}, []quietCase{
			{"00:59 BST is not", lon, u(2026, 6, 9, 23, 59), "2026-06-10 00:59 +01:00", false, "", time.Time{}},
			{"01:00 BST is quiet", lon, u(2026, 6, 10, 0, 0), "2026-06-10 01:00 +01:00", true, "2026-06-10 06:00 +01:00", u(2026, 6, 10, 5, 0)},
			{"05:59 BST is quiet", lon, u(2026, 6, 10, 4, 59), "2026-06-10 05:59 +01:00", true, "2026-06-10 06:00 +01:00", u(2026, 6, 10, 5, 0)},
			{"06:00 BST is not", lon, u(2026, 6, 10, 5, 0), "2026-06-10 06:00 +01:00", false, "", time.Time{}},
			{"12:00 BST is not", lon, u(2026, 6, 10, 11, 0), "2026-06-10 12:00 +01:00", false, "", time.Time{}},
			{"22:00 BST is not", lon, u(2026, 6, 10, 21, 0), "2026-06-10 22:00 +01:00", false, "", time.Time{}},
		})
	})

	t.Run("start equal to end is off", func(t *testing.T) {
		for label, h := range map[string]Hours{"22:00-22:00": {Start: "22:00", End: "22:00"}, "empty": {}} {
			runQuietCases(t, h, []quietCase{
				{label + "/22:00", "", u(2026, 6, 10, 22, 0), "2026-06-10 22:00 +00:00", false, "", time.Time{}},
				{label + "/23:30", "", u(2026, 6, 10, 23, 30), "2026-06-10 23:30 +00:00", false, "", time.Time{}},
				{label + "/03:00", "", u(2026, 6, 11, 3, 0), "2026-06-11 03:00 +00:00", false, "", time.Time{}},
			})
		}
	})
}

func TestQuietHoursAndCapTogether(t *testing.T) {
	london := loadLoc(t, "Europe/London")
	at := func(mo time.Month, d, h, mi int) time.Time { return time.Date(2026, mo, d, h, mi, 0, 0, london) }

	cases := []struct {
		name   string
		cap    Cap
		sent   time.Time
		now    time.Time
		reason Reason
		until  time.Time
	}{
		{"cap slot inside quiet hours moves to their end", Cap{Max: 1, Per: 12 * time.Hour},
			at(time.June, 10, 12, 0), at(time.June, 10, 14, 0), FrequencyCap, at(time.June, 11, 8, 0)},
		{"cap slot inside a DST-change night moves to 08:00 BST", Cap{Max: 1, Per: 12 * time.Hour},
			at(time.March, 28, 12, 0), at(time.March, 28, 15, 0), FrequencyCap,
			time.Date(2026, time.March, 29, 7, 0, 0, 0, time.UTC)},
		{"cap slot in the daytime stays", Cap{Max: 1, Per: 24 * time.Hour},
			at(time.June, 10, 12, 0), at(time.June, 10, 14, 0), FrequencyCap, at(time.June, 11, 12, 0)},
		{"end of quiet hours still capped moves to the cap slot", Cap{Max: 1, Per: 24 * time.Hour},
			at(time.June, 10, 10, 0), at(time.June, 10, 22, 0), QuietHours, at(time.June, 11, 10, 0)},
		{"cap ends during quiet hours: the end of quiet hours", Cap{Max: 1, Per: 10 * time.Hour},
			at(time.June, 9, 20, 0), at(time.June, 9, 22, 0), QuietHours, at(time.June, 10, 8, 0)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := sendable(c.now)
			in.Location = london
			in.Policy.QuietHours = Hours{Start: "21:00", End: "08:00"}
			in.Policy.FrequencyCap = c.cap
			in.Sent = []time.Time{c.sent}
			d := Decide(in)
			assert.Equal(t, Defer, d.Outcome)
			assert.Equal(t, c.reason, d.Reason)
			assertInstant(t, c.until, d.Until)

			in.Now = c.until
			assert.Equal(t, Decision{Outcome: Send}, Decide(in), "at until")
		})
	}
}

func TestSoftOptInSendsStepOneOnly(t *testing.T) {
	london := loadLoc(t, "Europe/London")
	now := time.Date(2026, time.June, 10, 14, 0, 0, 0, london)
	send := Decision{Outcome: Send}
	drop := Decision{Outcome: Drop, Reason: NoConsent}

	cases := []struct {
		mode    string
		consent Consent
		step    int
		want    Decision
	}{
		{ConsentSoftOptIn, ConsentAbsent, 1, send},
		{ConsentSoftOptIn, ConsentAbsent, 2, drop},
		{ConsentSoftOptIn, ConsentAbsent, 3, drop},
		{ConsentSoftOptIn, ConsentRefused, 1, drop},
		{ConsentSoftOptIn, ConsentRefused, 2, drop},
		{ConsentSoftOptIn, ConsentRefused, 3, drop},
		{ConsentSoftOptIn, ConsentGiven, 1, send},
		{ConsentSoftOptIn, ConsentGiven, 2, send},
		{ConsentRequired, ConsentAbsent, 1, drop},
		{ConsentRequired, ConsentAbsent, 2, drop},
		{ConsentRequired, ConsentRefused, 1, drop},
		{ConsentRequired, ConsentGiven, 1, send},
		{ConsentRequired, ConsentGiven, 2, send},
		{ConsentRequired, ConsentGiven, 3, send},
	}
	names := map[Consent]string{ConsentAbsent: "absent", ConsentGiven: "given", ConsentRefused: "refused"}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%s/step%d", c.mode, names[c.consent], c.step), func(t *testing.T) {
			in := sendable(now)
			in.Location = london
			in.Policy.Consent = c.mode
			in.Consent = c.consent
			in.Step = c.step
			assert.Equal(t, c.want, Decide(in))
		})
	}
}

func TestDropReasons(t *testing.T) {
	london := loadLoc(t, "Europe/London")
	now := time.Date(2026, time.June, 10, 14, 0, 0, 0, london)
	send := Decision{Outcome: Send}
	drop := func(r Reason) Decision { return Decision{Outcome: Drop, Reason: r} }
	base := func() Input {
		in := sendable(now)
		in.Location = london
		return in
	}

	t.Run("under_16", func(t *testing.T) {
		in := base()
		in.Under16 = true
		assert.Equal(t, drop(Under16), Decide(in), "consent given")
		in.Consent = ConsentRefused
		assert.Equal(t, drop(Under16), Decide(in), "consent refused")
		in.Consent = ConsentAbsent
		in.Policy.Consent = ConsentSoftOptIn
		assert.Equal(t, drop(Under16), Decide(in), "soft opt-in, step 1")
		in = base()
		in.Under16 = false
		assert.Equal(t, send, Decide(in))
	})

	t.Run("too_old", func(t *testing.T) {
		in := base()
		in.Policy.MaxAge = 72 * time.Hour
		in.LastActivity = now.Add(-73 * time.Hour)
		assert.Equal(t, drop(TooOld), Decide(in), "73h")
		in.LastActivity = now.Add(-72*time.Hour - time.Second)
		assert.Equal(t, drop(TooOld), Decide(in), "72h1s")
		in.LastActivity = now.Add(-72 * time.Hour)
		assert.Equal(t, send, Decide(in), "72h is not older than 72h")
		in.LastActivity = now.Add(-71 * time.Hour)
		assert.Equal(t, send, Decide(in), "71h")
		in.Policy.MaxAge = 0
		in.LastActivity = now.Add(-1000 * time.Hour)
		assert.Equal(t, send, Decide(in), "max_age 0 is off")
	})

	t.Run("below_min_value", func(t *testing.T) {
		for _, c := range []struct {
			cur   string
			total int64
			want  Decision
		}{
			{"GBP", 999, drop(BelowMinValue)},
			{"GBP", 0, drop(BelowMinValue)},
			{"GBP", 1000, send},
			{"GBP", 1001, send},
			{"EUR", 1, send},
			{"EUR", 999, send},
		} {
			in := base()
			in.Policy.MinValue = map[string]int64{"GBP": 1000}
			in.Currency, in.Total = c.cur, c.total
			assert.Equal(t, c.want, Decide(in), "%s %d", c.cur, c.total)
		}
	})

	t.Run("ordered", func(t *testing.T) {
		in := base()
		last := in.LastActivity
		in.OrderedAt = last
		assert.Equal(t, drop(Ordered), Decide(in), "ordered at last activity")
		in.OrderedAt = last.Add(time.Minute)
		assert.Equal(t, drop(Ordered), Decide(in), "ordered after")
		in.OrderedAt = last.Add(-time.Second)
		assert.Equal(t, send, Decide(in), "ordered before")
		in.OrderedAt = time.Time{}
		assert.Equal(t, send, Decide(in), "never ordered")
	})

	t.Run("drops come before deferrals", func(t *testing.T) {
		in := base()
		in.Now = time.Date(2026, time.June, 10, 23, 0, 0, 0, london)
		in.LastActivity = in.Now.Add(-time.Hour)
		in.Policy.QuietHours = Hours{Start: "21:00", End: "08:00"}
		in.Sent = []time.Time{in.Now.Add(-time.Minute)}
		in.Under16 = true
		assert.Equal(t, drop(Under16), Decide(in))
		in.Under16 = false
		in.Consent = ConsentRefused
		assert.Equal(t, drop(NoConsent), Decide(in))
	})
}

func TestDryRunRecordsWouldSend(t *testing.T) {
	london := loadLoc(t, "Europe/London")
	day := time.Date(2026, time.June, 10, 14, 0, 0, 0, london)
	night := time.Date(2026, time.June, 10, 23, 0, 0, 0, london)

	cases := []struct {
		name  string
		setup func(*Input)
		want  Decision
	}{
		{"would send", func(*Input) {}, Decision{Outcome: WouldSend}},
		{"still drops", func(in *Input) { in.Consent = ConsentRefused }, Decision{Outcome: Drop, Reason: NoConsent}},
		{"still drops under 16", func(in *Input) { in.Under16 = true }, Decision{Outcome: Drop, Reason: Under16}},
		{"still defers for quiet hours", func(in *Input) {
			in.Now = night
			in.LastActivity = night.Add(-time.Hour)
			in.Policy.QuietHours = Hours{Start: "21:00", End: "08:00"}
		}, Decision{Outcome: Defer, Reason: QuietHours, Until: time.Date(2026, time.June, 11, 8, 0, 0, 0, london)}},
		{"still defers for the cap", func(in *Input) {
			in.Sent = []time.Time{day.Add(-time.Hour)}
		}, Decision{Outcome: Defer, Reason: FrequencyCap, Until: day.Add(23 * time.Hour)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := sendable(day)
			in.Location = london
			in.Policy.DryRun = true
			c.setup(&in)
			d := Decide(in)
			assert.Equal(t, c.want.Outcome, d.Outcome)
			assert.Equal(t, c.want.Reason, d.Reason)
			assertInstant(t, c.want.Until, d.Until)
		})
	}

	t.Run("without dry run it sends", func(t *testing.T) {
		in := sendable(day)
		in.Location = london
		assert.Equal(t, Decision{Outcome: Send}, Decide(in))
	})
}

func TestParseClockAndValidate(t *testing.T) {
	t.Run("ParseClock accepts HH:MM", func(t *testing.T) {
		for s, want := range map[string]int{"00:00": 0, "08:00": 480, "12:05": 725, "21:00": 1260, "23:59": 1439} {
			got, err := ParseClock(s)
			require.NoError(t, err, s)
			assert.Equal(t, want, got, s)
		}
	})

	t.Run("ParseClock refuses", func(t *testing.T) {
		for _, s := range []string{"24:00", "8:0", "12:5", "aa:bb", "", "12:60", "12", "12:", ":30", "-1:00", "23:59:59", "12:345"} {
			_, err := ParseClock(s)
			if assert.Error(t, err, "%q", s) {
				assert.Contains(t, err.Error(), "HH:MM", "%q", s)
			}
		}
	})

	t.Run("Default", func(t *testing.T) {
		p := Default()
		assert.Equal(t, Policy{
			Consent:      ConsentRequired,
			FrequencyCap: Cap{Max: 1, Per: 24 * time.Hour},
			QuietHours:   Hours{Start: "21:00", End: "08:00"},
			MaxAge:       72 * time.Hour,
		}, p)
		assert.Empty(t, p.Validate(24*time.Hour))
		// max_age must exceed the last step
		errs := p.Validate(72 * time.Hour)
		require.Len(t, errs, 1)
		assert.True(t, strings.HasPrefix(errs[0].Error(), "max_age: "), errs[0].Error())
	})

	valid := []struct {
		name string
		edit func(*Policy)
	}{
		{"soft opt-in", func(p *Policy) { p.Consent = ConsentSoftOptIn }},
		{"cap off", func(p *Policy) { p.FrequencyCap = Cap{} }},
		{"cap per at the bound", func(p *Policy) { p.FrequencyCap.Per = MaxCapPeriod }},
		{"quiet hours off (empty)", func(p *Policy) { p.QuietHours = Hours{} }},
		{"quiet hours off (start = end)", func(p *Policy) { p.QuietHours = Hours{Start: "22:00", End: "22:00"} }},
		{"max_age off", func(p *Policy) { p.MaxAge = 0 }},
		{"max_age just over the last step", func(p *Policy) { p.MaxAge = 24*time.Hour + time.Second }},
		{"min_value", func(p *Policy) { p.MinValue = map[string]int64{"GBP": 1000, "EUR": 0} }},
		{"dry run", func(p *Policy) { p.DryRun = true }},
	}
	for _, c := range valid {
		t.Run("Validate accepts/"+c.name, func(t *testing.T) {
			p := Default()
			c.edit(&p)
			assert.Empty(t, p.Validate(24*time.Hour))
		})
	}

	invalid := []struct {
		name string
		edit func(*Policy)
		key  string
	}{
		{"consent empty", func(p *Policy) { p.Consent = "" }, "consent"},
		{"consent unknown", func(p *Policy) { p.Consent = "opt_out" }, "consent"},
		{"cap max negative", func(p *Policy) { p.FrequencyCap.Max = -1 }, "frequency_cap.max"},
		{"cap per zero", func(p *Policy) { p.FrequencyCap.Per = 0 }, "frequency_cap.per"},
		{"cap per negative", func(p *Policy) { p.FrequencyCap.Per = -time.Hour }, "frequency_cap.per"},
		{"cap per over the bound", func(p *Policy) { p.FrequencyCap.Per = MaxCapPeriod + time.Second }, "frequency_cap.per"},
		{"quiet start 24:00", func(p *Policy) { p.QuietHours.Start = "24:00" }, "quiet_hours.start"},
		{"quiet start empty", func(p *Policy) { p.QuietHours.Start = "" }, "quiet_hours.start"},
		{"quiet start garbage", func(p *Policy) { p.QuietHours.Start = "aa:bb" }, "quiet_hours.start"},
		{"quiet end 12:60", func(p *Policy) { p.QuietHours.End = "12:60" }, "quiet_hours.end"},
		{"quiet end empty", func(p *Policy) { p.QuietHours.End = "" }, "quiet_hours.end"},
		{"max_age equal to the last step", func(p *Policy) { p.MaxAge = 24 * time.Hour }, "max_age"},
		{"max_age under the last step", func(p *Policy) { p.MaxAge = time.Hour }, "max_age"},
		{"max_age negative", func(p *Policy) { p.MaxAge = -time.Hour }, "max_age"},
		{"min_value lower case", func(p *Policy) { p.MinValue = map[string]int64{"GBP": 1000, "eur": 5} }, "min_value.eur"},
		{"min_value negative", func(p *Policy) { p.MinValue = map[string]int64{"GBP": -1} }, "min_value.GBP"},
		{"min_value four letters", func(p *Policy) { p.MinValue = map[string]int64{"GBPX": 1} }, "min_value.GBPX"},
		{"min_value two letters", func(p *Policy) { p.MinValue = map[string]int64{"GB": 1} }, "min_value.GB"},
	}
	for _, c := range invalid {
		t.Run("Validate refuses/"+c.name, func(t *testing.T) {
			p := Default()
			c.edit(&p)
			errs := p.Validate(24 * time.Hour)
			require.Len(t, errs, 1, "%v", errs)
			assert.True(t, strings.HasPrefix(errs[0].Error(), c.key+": "), "want key %q, got %q", c.key, errs[0].Error())
		})
	}

	t.Run("Validate refuses/zero policy needs a consent mode", func(t *testing.T) {
		errs := Policy{}.Validate(24 * time.Hour)
		require.Len(t, errs, 1, "%v", errs)
		assert.True(t, strings.HasPrefix(errs[0].Error(), "consent: "), errs[0].Error())
	})

	t.Run("Validate refuses/first problem first", func(t *testing.T) {
		p := Default()
		p.Consent = "x"
		p.MaxAge = -time.Hour
		errs := p.Validate(24 * time.Hour)
		require.NotEmpty(t, errs)
		assert.True(t, strings.HasPrefix(errs[0].Error(), "consent: "), errs[0].Error())
	})
}

// Quiet hours whose end falls inside a DST change: in the repeated hour
// the period ends at the second showing of End; in the skipped hour, when
// the clock jumps past it.
func TestQuietHoursEndingInsideADSTChange(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	require.NoError(t, err)
	p := Policy{Consent: ConsentRequired}
	decide := func(h Hours, now time.Time) Decision {
		p.QuietHours = h
		return Decide(Input{Now: now, Step: 1, LastActivity: now, Consent: ConsentGiven, Location: la, Policy: p})
	}
	// 2026-11-01 01:00-02:00 PDT→PST: 01:15 PST is the second 01:15.
	d := decide(Hours{Start: "22:00", End: "01:30"}, time.Date(2026, 11, 1, 9, 15, 0, 0, time.UTC))
	require.Equal(t, Defer, d.Outcome)
	assert.Equal(t, time.Date(2026, 11, 1, 9, 30, 0, 0, time.UTC), d.Until.UTC(), "the second 01:30, PST")
	// 2026-03-08 02:00 PST→03:00 PDT: 02:30 never shows.
	for _, now := range []time.Time{time.Date(2026, 3, 8, 9, 45, 0, 0, time.UTC), time.Date(2026, 3, 8, 9, 15, 0, 0, time.UTC)} {
		d = decide(Hours{Start: "22:00", End: "02:30"}, now)
		require.Equal(t, Defer, d.Outcome)
		assert.Equal(t, time.Date(2026, 3, 8, 10, 0, 0, 0, time.UTC), d.Until.UTC(), "03:00 PDT, when the clock jumps past 02:30")
	}
}

// QuietUntil against its definition, the first minute after t at which the
// wall clock shows a time outside the quiet hours, found by walking the
// clock minute by minute: around clock changes of 30 minutes, one hour and
// two hours, forward and back, for quiet hours starting and ending every
// 90 minutes and at the times that fall in or beside the changes.
func TestQuietUntilIsTheFirstMinuteOutsideTheQuietHours(t *testing.T) {
	walk := func(h Hours, at time.Time, loc *time.Location) (time.Time, bool) {
		start, _ := ParseClock(h.Start)
		end, _ := ParseClock(h.End)
		if start == end || !inQuiet(start, end, at.In(loc)) {
			return time.Time{}, false
		}
		u := at.Truncate(time.Minute)
		for inQuiet(start, end, u.In(loc)) {
			u = u.Add(time.Minute)
		}
		return u, true
	}
	clocks := []string{"00:00", "00:30", "01:30", "02:00", "02:30", "03:00", "23:00", "23:30"}
	for m := 0; m < 24*60; m += 90 {
		clocks = append(clocks, fmt.Sprintf("%02d:%02d", m/60, m%60))
	}
	for _, zone := range []string{"Europe/London", "America/Los_Angeles", "America/Havana", "Australia/Lord_Howe", "Antarctica/Troll"} {
		loc := loadLoc(t, zone)
		var changes []time.Time // this zone's clock changes in 2026
		_, was := time.Date(2026, 1, 1, 0, 0, 0, 0, loc).Zone()
		for u := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC); u.Year() == 2026; u = u.Add(15 * time.Minute) {
			if _, off := u.In(loc).Zone(); off != was {
				changes, was = append(changes, u), off
			}
		}
		require.Len(t, changes, 2, zone)
		for _, change := range changes {
			for _, start := range clocks {
				for _, end := range clocks {
					h := Hours{Start: start, End: end}
					for at := change.Add(-14 * time.Hour); at.Before(change.Add(14 * time.Hour)); at = at.Add(110 * time.Minute) {
						want, wantQuiet := walk(h, at, loc)
						got, quiet := QuietUntil(h, at, loc)
						if quiet != wantQuiet || !got.Equal(want) {
							t.Fatalf("%s %s-%s at %s: got %v %s, want %v %s", zone, start, end, at.In(loc).Format(wall),
								quiet, got.In(loc).Format(wall), wantQuiet, want.In(loc).Format(wall))
						}
					}
				}
			}
		}
	}
}
