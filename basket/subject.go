package basket

import (
	"context"
	_ "embed"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/basketassist/basketassist/secrets"
	"github.com/basketassist/basketassist/suppression"
)

// Subject lists the baskets ("storefront:basket_id") that carried the
// address whose keyed hash is r. Empty when there are none.
func (s *Store) Subject(ctx context.Context, r secrets.Recipient) ([]string, error) {
	pipe := s.rdb.Pipeline()
	index := pipe.HKeys(ctx, s.subjectKey(r.String()))
	legacy := pipe.SMembers(ctx, s.legacySubjectKey(r.String()))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read baskets of a person: %w", err)
	}
	tags := index.Val()
	for _, tag := range legacy.Val() {
		if !slices.Contains(tags, tag) {
			tags = append(tags, tag)
		}
	}
	return tags, nil
}

func splitTag(tag string) (storefront, basketID string) {
	storefront, basketID, _ = strings.Cut(tag, ":")
	return storefront, basketID
}

//go:embed lua/forget.lua
var forgetSrc string
var forgetScript = redis.NewScript(stateSrc + forgetSrc)

// Forget erases every basket of r (state and step claims) and r's index, and
// returns the id of every reminder task those baskets can have had (each
// step of each version), for the caller to delete from the queues: retried
// and archived tasks of older versions included. Suppressions are not
// touched: an opt-out must outlive the data.
func (s *Store) Forget(ctx context.Context, r secrets.Recipient) (baskets int, tasks []string, err error) {
	tags, err := s.Subject(ctx, r)
	if err != nil {
		return 0, nil, err
	}
	steps := max(len(s.opts.Steps), 10)
	for _, tag := range tags {
		sf, id := splitTag(tag)
		keys := []string{s.stateKey(sf, id), s.recordKey(sf, id), s.legacyStateKey(sf, id), s.legacyDataKey(sf, id)}
		for step := 1; step <= steps; step++ {
			keys = append(keys, s.claimKey(sf, id, step))
		}
		v, err := forgetScript.Run(ctx, s.rdb, keys).Int64()
		if err != nil {
			return baskets, tasks, fmt.Errorf("forget basket %s: %w", id, err)
		}
		if v == 0 {
			continue // expired since it was indexed
		}
		baskets++
		for version := int64(1); version <= v; version++ {
			for step := 1; step <= steps; step++ {
				tasks = append(tasks, TaskID(sf, id, step, version))
			}
		}
	}
	// The send records name the person's hash; one DEL each, as they live
	// in slots of their own.
	pipe := s.rdb.Pipeline()
	for _, tag := range tags {
		sf, id := splitTag(tag)
		pipe.Del(ctx, s.sentKey(SendKey(sf, id)))
	}
	pipe.Del(ctx, s.subjectKey(r.String()), s.legacySubjectKey(r.String()), s.historyKey(r.String(), false), s.historyKey(r.String(), true),
		s.orderKey(r.String()))
	if _, err := pipe.Exec(ctx); err != nil {
		return baskets, tasks, fmt.Errorf("forget index: %w", err)
	}
	return baskets, tasks, nil
}

// Record is what is held about one basket, for a data export.
type Record struct {
	Storefront   string         `json:"storefront"`
	BasketID     string         `json:"basket_id"`
	Status       Status         `json:"status"`
	LastActivity time.Time      `json:"last_activity"`
	Customer     *Customer      `json:"customer,omitempty"`
	Contents     *Contents      `json:"basket,omitempty"`
	Steps        map[int]string `json:"reminder_steps,omitempty"` // step → sent, suppressed, …
	Decisions    []Decision     `json:"decisions"`                // the decision record, oldest first
	ExpiresIn    string         `json:"expires_in,omitempty"`
}

// Export returns what is held about r's baskets, customer fields opened.
func (s *Store) Export(ctx context.Context, r secrets.Recipient) ([]Record, error) {
	tags, err := s.Subject(ctx, r)
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, tag := range tags {
		sf, id := splitTag(tag)
		pipe := s.rdb.Pipeline()
		read := s.readStateIn(ctx, pipe, sf, id)
		ttl := s.stateTTLIn(ctx, pipe, sf, id)
		record := pipe.LRange(ctx, s.recordKey(sf, id), 0, -1)
		steps := make([]*redis.StringCmd, max(len(s.opts.Steps), 1))
		for i := range steps {
			steps[i] = pipe.Get(ctx, s.claimKey(sf, id, i+1))
		}
		if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
			return nil, fmt.Errorf("export basket %s: %w", id, err)
		}
		st, ok := read()
		if !ok {
			continue // expired since it was indexed
		}
		rec := Record{Storefront: sf, BasketID: id, Status: st.Status, LastActivity: st.LastActivity, Steps: map[int]string{},
			Decisions: decodeRecord(record.Val())}
		if c := st.Customer; c != "" {
			if rec.Customer, err = openCustomer(s.keys, sf, id, []byte(c)); err != nil {
				return nil, err
			}
		}
		if c := st.Contents; c != "" && c != "{}" {
			rec.Contents = &Contents{}
			if err := decodeContents([]byte(c), rec.Contents); err != nil {
				return nil, fmt.Errorf("decode contents of basket %s: %w", id, err)
			}
		}
		for i, c := range steps {
			if v := c.Val(); v != "" {
				rec.Steps[i+1] = v
			}
		}
		if d := ttl(); d > 0 {
			rec.ExpiresIn = d.Round(time.Hour).String()
		}
		out = append(out, rec)
	}
	return out, nil
}

// ForgetReport says what Forget erased and kept.
type ForgetReport struct {
	Baskets int `json:"baskets_erased"`
	// RemindersCancelled counts the reminder tasks deleted from the queues,
	// in any state; RemindersByState splits it by asynq state (scheduled,
	// pending, retry, archived).
	RemindersCancelled int            `json:"reminders_cancelled"`
	RemindersByState   map[string]int `json:"reminders_by_state"`
	// RemindersRunning counts reminder tasks running at that moment, which
	// cannot be deleted: each finds the basket gone at its next step and
	// drops; one already past its hand-over was with SMTP before the erasure.
	RemindersRunning int `json:"reminders_running"`
	SuppressionsKept int `json:"suppressions_kept"`
}

// SubjectExport is what is held about a person.
type SubjectExport struct {
	Recipient    string              `json:"recipient"` // the keyed hash under which the data is filed
	Baskets      []Record            `json:"baskets"`
	Suppressions []suppression.Entry `json:"suppressions"`
}
