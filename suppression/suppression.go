// Package suppression keeps the scoped list of recipients who must not be
// emailed, and the signed tokens that let a recipient change it.
//
// Recipients are keyed hashes (secrets.Recipient), never addresses. An entry
// applies to one storefront, or to all of them when its storefront is "".
package suppression

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/basketassist/basketassist/replication"
	"github.com/basketassist/basketassist/secrets"
)

// Scope is a kind of email a recipient can opt out of.
type Scope string

// Scopes. A basket email is blocked by BasketAssistance or All; a newsletter
// by Newsletter or All.
const (
	BasketAssistance Scope = "basket_assistance"
	Newsletter       Scope = "newsletter"
	All              Scope = "all"
)

// ParseScope returns the scope named s, or an error naming the valid ones.
func ParseScope(s string) (Scope, error) {
	switch sc := Scope(s); sc {
	case BasketAssistance, Newsletter, All:
		return sc, nil
	}
	return "", fmt.Errorf("unknown scope %q (want basket_assistance, newsletter or all)", s)
}

// Reason says why an entry exists.
type Reason string

// Reasons.
const (
	Unsubscribed Reason = "unsubscribed"
	HardBounce   Reason = "hard_bounce"
	SoftBounce   Reason = "soft_bounce" // bounces.soft_limit temporary bounces in a row
	Complaint    Reason = "complaint"
	Manual       Reason = "manual"
)

// ParseReason returns the reason named s, or an error naming the valid ones.
func ParseReason(s string) (Reason, error) {
	if slices.Contains(Reasons, Reason(s)) {
		return Reason(s), nil
	}
	return "", fmt.Errorf("unknown reason %q (want %s)", s, ReasonNames())
}

// Reasons are the valid reasons, in the order help texts list them.
var Reasons = []Reason{Unsubscribed, HardBounce, SoftBounce, Complaint, Manual}

// ReasonNames lists Reasons for help and error texts: "a, b or c".
func ReasonNames() string {
	names := make([]string, len(Reasons))
	for i, r := range Reasons {
		names[i] = string(r)
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Origin says who made an entry.
type Origin string

// Origins.
const (
	Recipient Origin = "recipient"
	Operator  Origin = "operator"
	System    Origin = "system"
)

// Entry is one suppression.
type Entry struct {
	Recipient  secrets.Recipient `json:"-"`
	Scope      Scope             `json:"scope"`
	Storefront string            `json:"storefront,omitempty"` // "" means every storefront
	Reason     Reason            `json:"reason"`
	Origin     Origin            `json:"origin"`
	CreatedAt  time.Time         `json:"created_at"`
}

// Store is the suppression list in Redis: one hash per recipient,
// "<prefix>sup:{<recipient hash>}", with a field "<storefront or *>|<scope>"
// per entry. A check is therefore a single HMGET.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	log    *slog.Logger
	now    func() time.Time
	// OnChange, if set, is told of every entry added ("added") or removed
	// ("removed"), after it is stored: metrics count them with it.
	OnChange func(change string, e Entry)
	// Replication is how many Redis replicas must have an added entry
	// before Add reports success, so that an acknowledged unsubscribe
	// survives a failover. The zero value waits for none.
	Replication replication.Wait
}

func (s *Store) changed(change string, e Entry) {
	if s.OnChange != nil {
		s.OnChange(change, e)
	}
}

// NewStore returns a Store. log receives one audit line per change (hash,
// scope, reason, origin; never an address); nil discards them.
func NewStore(rdb redis.UniversalClient, prefix string, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{rdb: rdb, prefix: prefix, log: log, now: time.Now}
}

// key is built in one allocation: bulk checks build thousands.
func (s *Store) key(r secrets.Recipient) string {
	var k strings.Builder
	k.Grow(len(s.prefix) + len("sup:{}") + 2*len(r))
	k.WriteString(s.prefix)
	k.WriteString("sup:{")
	var hx [2 * len(secrets.Recipient{})]byte
	k.Write(r.AppendHex(hx[:0]))
	k.WriteByte('}')
	return k.String()
}

func field(storefront string, scope Scope) string {
	if storefront == "" {
		storefront = "*"
	}
	return storefront + "|" + string(scope)
}

// Add records e. Adding an entry that exists keeps the original one (its
// time and reason), which keeps repeated unsubscribes idempotent.
// It reports whether a new entry was written.
func (s *Store) Add(ctx context.Context, e Entry) (bool, error) {
	if e.Recipient.IsZero() {
		return false, errors.New("suppression: entry without recipient")
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = s.now().UTC()
	}
	v, err := json.Marshal(e)
	if err != nil {
		return false, fmt.Errorf("encode suppression: %w", err)
	}
	var set *redis.BoolCmd
	err = s.Replication.Pipelined(ctx, s.rdb, func(p redis.Pipeliner) {
		set = p.HSetNX(ctx, s.key(e.Recipient), field(e.Storefront, e.Scope), v)
	})
	if set.Err() != nil {
		return false, fmt.Errorf("add suppression %s: %w", e.Scope, set.Err())
	}
	// Stored on the primary, so audited even if the replicas lag: the
	// caller then reports a failure and the writer repeats the request.
	added := set.Val()
	if added {
		s.log.InfoContext(ctx, "suppression added", "recipient", e.Recipient.String(), "scope", e.Scope,
			"storefront", e.Storefront, "reason", e.Reason, "origin", e.Origin)
		s.changed("added", e)
	}
	if err != nil {
		return added, fmt.Errorf("add suppression %s: %w", e.Scope, err)
	}
	return added, nil
}

// Remove deletes the entry for exactly this scope and storefront; entries of
// other scopes (a narrower one under "all", or "all" itself) stay. It reports
// whether an entry was removed.
func (s *Store) Remove(ctx context.Context, r secrets.Recipient, storefront string, scope Scope, origin Origin) (bool, error) {
	n, err := s.rdb.HDel(ctx, s.key(r), field(storefront, scope)).Result()
	if err != nil {
		return false, fmt.Errorf("remove suppression %s: %w", scope, err)
	}
	if n > 0 {
		s.log.InfoContext(ctx, "suppression removed", "recipient", r.String(), "scope", scope,
			"storefront", storefront, "origin", origin)
		s.changed("removed", Entry{Recipient: r, Scope: scope, Storefront: storefront, Origin: origin})
	}
	return n > 0, nil
}

// blockingFields are the entries that stop an email of scope from
// storefront: that scope or "all", global or for the storefront.
func blockingFields(storefront string, scope Scope) []string {
	fields := []string{field("", All), field("", scope)}
	if storefront != "" {
		fields = append(fields, field(storefront, All), field(storefront, scope))
	}
	return fields
}

// Blocking names where Check looks: the recipient's hash key and the fields
// whose presence blocks an email of scope from storefront. A script that
// must check suppression atomically with its own writes (the hand-over of a
// reminder) reads these, so the layout stays defined here alone.
func (s *Store) Blocking(r secrets.Recipient, storefront string, scope Scope) (key string, fields []string) {
	return s.key(r), blockingFields(storefront, scope)
}

// Check reports whether an email of scope, from storefront, must not be sent
// to r: it is blocked by an entry for that scope or for "all", made for that
// storefront or globally. A check for All is blocked only by "all" entries.
// The blocking entry is returned; with false it is the zero Entry.
func (s *Store) Check(ctx context.Context, r secrets.Recipient, storefront string, scope Scope) (bool, Entry, error) {
	pipe := s.rdb.Pipeline()
	read := s.CheckIn(ctx, pipe, r, storefront, scope)
	_, _ = pipe.Exec(ctx) // the command's own error is read below
	return read()
}

// CheckIn queues Check's read on pipe, so that it can share a round trip
// with other reads; the returned function gives the result once pipe has
// run.
func (s *Store) CheckIn(ctx context.Context, pipe redis.Pipeliner, r secrets.Recipient, storefront string, scope Scope) func() (bool, Entry, error) {
	cmd := pipe.HMGet(ctx, s.key(r), blockingFields(storefront, scope)...)
	return func() (bool, Entry, error) {
		vals, err := cmd.Result()
		if err != nil {
			return false, Entry{}, fmt.Errorf("check suppression %s: %w", scope, err)
		}
		for _, v := range vals {
			if raw, ok := v.(string); ok {
				var e Entry
				if err := json.Unmarshal([]byte(raw), &e); err != nil {
					return false, Entry{}, fmt.Errorf("decode suppression: %w", err)
				}
				e.Recipient = r
				return true, e, nil
			}
		}
		return false, Entry{}, nil
	}
}

// Entries returns every entry of r, global and per storefront, in one read.
// It returns an empty slice when r has none.
func (s *Store) Entries(ctx context.Context, r secrets.Recipient) ([]Entry, error) {
	all, err := s.rdb.HGetAll(ctx, s.key(r)).Result()
	if err != nil {
		return nil, fmt.Errorf("read suppressions: %w", err)
	}
	out := make([]Entry, 0, len(all))
	for _, raw := range all {
		var e Entry
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			return nil, fmt.Errorf("decode suppression: %w", err)
		}
		e.Recipient = r
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// Blocks reports whether e stops an email of scope from storefront.
func (e Entry) Blocks(storefront string, scope Scope) bool {
	return (e.Storefront == "" || e.Storefront == storefront) && (e.Scope == All || e.Scope == scope)
}
