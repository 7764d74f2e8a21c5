// Package policy is the one place that decides whether a reminder goes out
// now: send, drop (with a reason) or defer (until an instant, with a
// reason). Decide is a pure function of the basket, the step, the
// recipient's recent sends, the storefront's policy and the time; the
// worker asks it and does what it says.
package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Outcome is what became of a reminder, as the decision record and the
// API name it.
type Outcome string

// Outcomes.
const (
	Send      Outcome = "sent"       // handed to SMTP and accepted
	Drop      Outcome = "dropped"    // not sent, and never will be (Reason says why)
	Defer     Outcome = "deferred"   // put off until Until (Reason says why)
	WouldSend Outcome = "would_send" // policy.dry_run: everything said send; nothing went to SMTP
	// Outcomes the send itself can come to, recorded beside the decisions.
	Bounced    Outcome = "bounced"    // refused as undeliverable (at send time or in a late report)
	Complained Outcome = "complained" // the recipient reported it as spam
	Failed     Outcome = "failed"     // refused for a reason on the sending side; nobody suppressed
)

// Reason says why a reminder was dropped or deferred. It is the one list
// the claim and hand-over scripts, the worker, the logs, the metrics and
// the decision record share.
type Reason string

// Reasons decided by Decide.
const (
	FrequencyCap  Reason = "frequency_cap"   // deferred: the recipient had policy.frequency_cap emails from this storefront
	QuietHours    Reason = "quiet_hours"     // deferred: night in the recipient's time zone
	NoConsent     Reason = "no_consent"      // no address, or no consent under policy.consent
	Under16       Reason = "under_16"        // customer.under_16: never emailed
	TooOld        Reason = "too_old"         // last activity older than policy.max_age
	BelowMinValue Reason = "below_min_value" // basket total under policy.min_value
	Ordered       Reason = "ordered"         // the recipient ordered at this storefront since this basket's last activity
)

// Reasons found in the basket's state (claim.lua, handover.lua) and by the
// worker.
const (
	NotDue            Reason = "not_due"            // deferred: run before its due time (clock skew, asynqmon's "run")
	Suppressed        Reason = "suppressed"         // the recipient opted out (or bounced, or complained)
	Purchased         Reason = "purchased"          // this basket was bought
	Cleared           Reason = "cleared"            // this basket was emptied
	Superseded        Reason = "superseded"         // newer activity: a newer reminder owns the basket
	InDoubt           Reason = "in_doubt"           // an earlier attempt reached the final dot: never risk a second email
	Gone              Reason = "gone"               // the basket expired, was forgotten or never existed
	ClaimLost         Reason = "claim_lost"         // another attempt of the same task took the step over
	HandingOver       Reason = "handing_over"       // deferred: another attempt handed the step over moments ago and may still end it
	AlreadySent       Reason = "already_sent"       // the step was sent before
	AlreadyDone       Reason = "already_done"       // the step ended before (dropped, suppressed, bounced, in doubt)
	UnknownStorefront Reason = "unknown_storefront" // the storefront is no longer configured
	HardBounce        Reason = "hard_bounce"        // the address cannot receive mail
	SoftBounce        Reason = "soft_bounce"        // bounces.soft_limit temporary refusals about the mailbox in a row
	Complaint         Reason = "complaint"          // a spam complaint
	SenderRejected    Reason = "sender_rejected"    // the relay refused for its own reasons (5.7.x …), the last retry too: archived
	RetriesExhausted  Reason = "retries_exhausted"  // the last of worker.max_retry attempts failed too (relay or Redis unreachable, 4xx): archived
)

// Reasons lists every reason, for tests and docs.
var Reasons = []Reason{FrequencyCap, QuietHours, NotDue, NoConsent, Under16, TooOld, BelowMinValue, Ordered,
	Suppressed, Purchased, Cleared, Superseded, InDoubt, Gone, ClaimLost, HandingOver, AlreadySent, AlreadyDone,
	UnknownStorefront, HardBounce, SoftBounce, Complaint, SenderRejected, RetriesExhausted}

// Known reports whether r is one of Reasons.
func (r Reason) Known() bool { return slices.Contains(Reasons, r) }

// Consent is what the customer said about basket emails.
type Consent int

// Consent states.
const (
	ConsentAbsent  Consent = iota // not asked, or not said
	ConsentGiven                  // consent.basket_assistance: true
	ConsentRefused                // consent.basket_assistance: false, explicitly
)

// Consent modes of policy.consent.
const (
	ConsentRequired  = "required"    // only explicit consent is emailed
	ConsentSoftOptIn = "soft_opt_in" // absent consent: step 1 only; refused: never
)

// Cap is policy.frequency_cap: at most Max emails per Per, per recipient
// and storefront, across baskets. Max 0 turns it off.
type Cap struct {
	Max int           `mapstructure:"max"`
	Per time.Duration `mapstructure:"per"`
}

// Hours is policy.quiet_hours, "HH:MM" in the recipient's local time; the
// period may wrap midnight. Start equal to End (both empty included) turns
// it off.
type Hours struct {
	Start string `mapstructure:"start"`
	End   string `mapstructure:"end"`
}

// Policy is one storefront's sending policy.
type Policy struct {
	Consent      string           `mapstructure:"consent"`
	FrequencyCap Cap              `mapstructure:"frequency_cap"`
	QuietHours   Hours            `mapstructure:"quiet_hours"`
	MaxAge       time.Duration    `mapstructure:"max_age"` // 0: off
	MinValue     map[string]int64 `mapstructure:"min_value"`
	DryRun       bool             `mapstructure:"dry_run"`
}

// Default is the policy of a storefront that sets nothing.
func Default() Policy {
	return Policy{Consent: ConsentRequired, FrequencyCap: Cap{Max: 1, Per: 24 * time.Hour},
		QuietHours: Hours{Start: "21:00", End: "08:00"}, MaxAge: 72 * time.Hour}
}

// Input is everything a decision depends on.
type Input struct {
	Now          time.Time
	Step         int
	LastActivity time.Time // of the basket
	Consent      Consent
	Under16      bool
	Currency     string
	Total        int64 // in minor units of Currency
	// Location is the recipient's time zone: customer.timezone, else the
	// storefront's, else UTC (nil is UTC).
	Location *time.Location
	// Sent are the instants of the recipient's emails from this storefront
	// within the cap's period, any basket (order does not matter).
	Sent []time.Time
	// OrderedAt is the recipient's last order at this storefront (zero: none).
	OrderedAt time.Time
	Policy    Policy
}

// Decision is what to do with a reminder now.
type Decision struct {
	Outcome Outcome // Send, WouldSend, Drop or Defer
	Reason  Reason  // for Drop and Defer
	Until   time.Time
}

// Decide applies the policy. Drops come first (they never change), then
// deferrals: quiet hours and the cap, until an instant that satisfies both.
func Decide(in Input) Decision {
	p := in.Policy
	switch {
	case in.Under16:
		return Decision{Outcome: Drop, Reason: Under16}
	case in.Consent == ConsentRefused,
		in.Consent == ConsentAbsent && (p.Consent != ConsentSoftOptIn || in.Step > 1):
		return Decision{Outcome: Drop, Reason: NoConsent}
	case !in.OrderedAt.IsZero() && !in.OrderedAt.Before(in.LastActivity):
		return Decision{Outcome: Drop, Reason: Ordered}
	case p.MaxAge > 0 && in.Now.Sub(in.LastActivity) > p.MaxAge:
		return Decision{Outcome: Drop, Reason: TooOld}
	}
	if min, ok := p.MinValue[in.Currency]; ok && in.Total < min {
		return Decision{Outcome: Drop, Reason: BelowMinValue}
	}
	t, first := in.Now, Reason("")
	for range 8 { // each pass moves t forward; two constraints settle in a few
		moved := false
		if until, quiet := QuietUntil(p.QuietHours, t, in.Location); quiet {
			t, moved = until, true
			if first == "" {
				first = QuietHours
			}
		}
		if until, capped := capUntil(p.FrequencyCap, in.Sent, t); capped {
			t, moved = until, true
			if first == "" {
				first = FrequencyCap
			}
		}
		if !moved {
			break
		}
	}
	if first != "" {
		return Decision{Outcome: Defer, Reason: first, Until: t}
	}
	if p.DryRun {
		return Decision{Outcome: WouldSend}
	}
	return Decision{Outcome: Send}
}

// QuietUntil reports whether t is within the quiet hours in loc (nil is
// UTC), and when they end: the first instant after t at which loc's wall
// clock shows a time outside them.
func QuietUntil(h Hours, t time.Time, loc *time.Location) (time.Time, bool) {
	if loc == nil {
		loc = time.UTC
	}
	start, err1 := ParseClock(h.Start)
	end, err2 := ParseClock(h.End)
	if err1 != nil || err2 != nil || start == end {
		return time.Time{}, false
	}
	local := t.In(loc)
	if !inQuiet(start, end, local) {
		return time.Time{}, false
	}
	y, mo, d := local.Date()
	if local.Hour()*60+local.Minute() >= end { // the period ends tomorrow
		d++
	}
	until := time.Date(y, mo, d, end/60, end%60, 0, 0, loc)
	_, before := local.Zone()
	if _, after := until.Zone(); before == after && until.After(t) && until.Hour()*60+until.Minute() == end {
		// The offset is the same at both ends and End is where time.Date
		// put it: the wall clock runs on from t to End without a jump.
		return until, true
	}
	// A clock change lies between: the wall clock jumps over End or comes
	// back out of the period before it (a gap or a fold), and time.Date
	// may place End on either side of the change. The period ends when the
	// clock first shows a time outside it, found minute by minute, on the
	// days a clock changes only.
	for until = t.Truncate(time.Minute).Add(time.Minute); inQuiet(start, end, until.In(loc)); until = until.Add(time.Minute) {
	}
	return until, true
}

// inQuiet reports whether local's wall clock is in [start, end), wrapping
// midnight when end < start.
func inQuiet(start, end int, local time.Time) bool {
	m := local.Hour()*60 + local.Minute()
	if start < end {
		return m >= start && m < end
	}
	return m >= start || m < end
}

// capUntil reports whether another email at t would exceed the cap, and
// the first instant it would not: when the oldest email that keeps the
// count at Max leaves the period. An email dated after t counts too, as in
// the hand-over's check (basket/lua/handover.lua): another worker whose
// clock runs ahead dated it, and the two checks must agree, or each retry
// would pass the one and be refused by the other.
func capUntil(c Cap, sent []time.Time, t time.Time) (time.Time, bool) {
	if c.Max <= 0 || c.Per <= 0 {
		return time.Time{}, false
	}
	var in []time.Time
	for _, s := range sent {
		if s.After(t.Add(-c.Per)) {
			in = append(in, s)
		}
	}
	if len(in) < c.Max {
		return time.Time{}, false
	}
	slices.SortFunc(in, func(a, b time.Time) int { return a.Compare(b) })
	return in[len(in)-c.Max].Add(c.Per), true
}

// ParseClock reads "HH:MM" (24-hour, two digits each) as minutes after
// midnight.
func ParseClock(s string) (int, error) {
	if len(s) == 5 && s[2] == ':' && digits(s[:2]) && digits(s[3:]) {
		hh, _ := strconv.Atoi(s[:2])
		mm, _ := strconv.Atoi(s[3:])
		if hh <= 23 && mm <= 59 {
			return hh*60 + mm, nil
		}
	}
	// Built only here: the send path parses the quiet hours of every reminder.
	return 0, fmt.Errorf("must be HH:MM (24-hour), got %q", s)
}

func digits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Validate reports every problem of p as "key: problem", keys relative
// to the policy ("consent", "quiet_hours.start", …). lastStep is the
// longest reminder delay, which max_age must exceed.
func (p Policy) Validate(lastStep time.Duration) []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if p.Consent != ConsentRequired && p.Consent != ConsentSoftOptIn {
		bad("consent", "must be %s or %s, got %q", ConsentRequired, ConsentSoftOptIn, p.Consent)
	}
	if p.FrequencyCap.Max < 0 {
		bad("frequency_cap.max", "must not be negative (0 turns the cap off), got %d", p.FrequencyCap.Max)
	}
	if p.FrequencyCap.Max > 0 && (p.FrequencyCap.Per <= 0 || p.FrequencyCap.Per > MaxCapPeriod) {
		bad("frequency_cap.per", "must be between 1s and %s, got %s", MaxCapPeriod, p.FrequencyCap.Per)
	}
	if p.QuietHours.Start != "" || p.QuietHours.End != "" {
		if _, err := ParseClock(p.QuietHours.Start); err != nil {
			bad("quiet_hours.start", "%v (equal start and end turn quiet hours off)", err)
		}
		if _, err := ParseClock(p.QuietHours.End); err != nil {
			bad("quiet_hours.end", "%v", err)
		}
	}
	if p.MaxAge < 0 || (p.MaxAge > 0 && p.MaxAge <= lastStep) {
		bad("max_age", "must be longer than the last reminder step (%s), or 0 for off; got %s", lastStep, p.MaxAge)
	}
	for cur, v := range p.MinValue {
		if len(cur) != 3 || strings.ToUpper(cur) != cur || v < 0 {
			bad("min_value."+cur, "must be an ISO 4217 code (GBP) with an amount in minor units ≥ 0, got %s: %d", cur, v)
		}
	}
	return errs
}

// MaxCapPeriod bounds frequency_cap.per: the send history is kept this long.
const MaxCapPeriod = 30 * 24 * time.Hour
