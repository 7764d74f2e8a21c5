package basket

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/basketassist/basketassist/policy"
)

// RecordLimit is how many decisions a basket's record keeps, newest last.
const RecordLimit = 20

// Decision is one entry of a basket's decision record: what became of a
// reminder step, and why. It holds no personal data.
type Decision struct {
	At      time.Time      `json:"at"`
	Step    int            `json:"step"`
	Outcome policy.Outcome `json:"outcome"`
	Reason  policy.Reason  `json:"reason"`          // "" for sent and would_send
	Until   *time.Time     `json:"until,omitempty"` // deferrals only
}

// stored is a Decision as the record keeps it: short names, unix ms.
type stored struct {
	At      int64  `json:"a"`
	Step    int    `json:"s"`
	Outcome string `json:"o"`
	Reason  string `json:"r,omitempty"`
	Until   int64  `json:"u,omitempty"`
}

func (s *Store) recordKey(storefront, basketID string) string {
	return s.tag(storefront, basketID) + ":dec"
}

//go:embed lua/record.lua
var recordSrc string
var recordScript = redis.NewScript(stateSrc + recordSrc)

// Record appends d to the basket's decision record, which keeps the last
// RecordLimit and expires with the basket. A basket that is gone gets no
// record.
func (s *Store) Record(ctx context.Context, storefront, basketID string, d Decision) error {
	err := recordScript.Run(ctx, s.rdb, []string{s.stateKey(storefront, basketID), s.recordKey(storefront, basketID),
		s.legacyStateKey(storefront, basketID)}, encodeDecision(d), RecordLimit).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("record decision for basket %s: %w", basketID, err)
	}
	return nil
}

// encodeDecision is d as the record keeps it (stored).
func encodeDecision(d Decision) []byte {
	e := stored{At: d.At.UnixMilli(), Step: d.Step, Outcome: string(d.Outcome), Reason: string(d.Reason)}
	if d.Until != nil {
		e.Until = d.Until.UnixMilli()
	}
	b, _ := json.Marshal(e)
	return b
}

// Explanation is what basketassist knows of a basket's reminders, for
// people asking "why did I (not) get this email?": its state, the reminder
// it waits for, and its decision record. NextDue is filled in by whoever
// can read the queue.
type Explanation struct {
	Storefront string     `json:"storefront"`
	BasketID   string     `json:"basket_id"`
	Status     Status     `json:"status"`
	Version    int64      `json:"version"`
	NextDue    *time.Time `json:"next_due"`
	Task       *string    `json:"task"` // the reminder task it waits for; null for none
	// TaskState is asynq's state of Task (scheduled, pending, active,
	// retry, archived) once it is queued; "" while in the due index or gone.
	TaskState string     `json:"task_state,omitempty"`
	Decisions []Decision `json:"decisions"`
}

// ErrNoBasket says a basket is not known (never seen, expired or forgotten).
var ErrNoBasket = errors.New("basket not found")

// Explain reads a basket's state and decision record in one round trip.
func (s *Store) Explain(ctx context.Context, storefront, basketID string) (Explanation, error) {
	pipe := s.rdb.Pipeline()
	read := s.readStateIn(ctx, pipe, storefront, basketID)
	rec := pipe.LRange(ctx, s.recordKey(storefront, basketID), 0, -1)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return Explanation{}, fmt.Errorf("read basket %s: %w", basketID, err)
	}
	st, ok := read()
	if !ok {
		return Explanation{}, ErrNoBasket
	}
	ex := Explanation{Storefront: storefront, BasketID: basketID, Status: st.Status, Version: st.Version}
	if st.Task {
		t := TaskID(storefront, basketID, st.Sent+1, st.Version)
		ex.Task = &t
	}
	ex.Decisions = decodeRecord(rec.Val())
	return ex, nil
}

// Decisions reads a basket's decision record, oldest first.
func (s *Store) Decisions(ctx context.Context, storefront, basketID string) ([]Decision, error) {
	raw, err := s.rdb.LRange(ctx, s.recordKey(storefront, basketID), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("read decisions of basket %s: %w", basketID, err)
	}
	return decodeRecord(raw), nil
}

func decodeRecord(raw []string) []Decision {
	out := make([]Decision, 0, len(raw))
	for _, r := range raw {
		var e stored
		if json.Unmarshal([]byte(r), &e) != nil {
			continue
		}
		d := Decision{At: time.UnixMilli(e.At).UTC(), Step: e.Step, Outcome: policy.Outcome(e.Outcome), Reason: policy.Reason(e.Reason)}
		if e.Until != 0 {
			u := time.UnixMilli(e.Until).UTC()
			d.Until = &u
		}
		out = append(out, d)
	}
	return out
}

func (s *Store) historyKey(recipient string, dry bool) string {
	k := s.opts.Prefix + "hist:{" + recipient + "}"
	if dry {
		k += ":dry"
	}
	return k
}

func (s *Store) orderKey(recipient string) string { return s.opts.Prefix + "ord:{" + recipient + "}" }

// historyMember names one email in a recipient's history: the storefront
// first, so a storefront's share can be counted.
func historyMember(storefront, basketID string, step int) string {
	return storefront + "|" + SendKey(storefront, basketID) + "s" + strconv.Itoa(step)
}

// Pace is the frequency cap as the hand-over re-checks it: atomically with
// the hand-over that counts towards it, so that two baskets of one person
// handed over at once cannot both pass a cap of one.
type Pace struct {
	Max  int           // policy.frequency_cap.max; 0: no cap
	Per  time.Duration // policy.frequency_cap.per
	Now  time.Time
	Keep time.Duration // how long the history is kept: the longest cap period of any storefront
}

// Recent returns the instants of recipient's emails from storefront since
// since (dry: policy.dry_run's would-sends instead), and the recipient's
// last order there (zero: none), in one round trip.
func (s *Store) Recent(ctx context.Context, recipient, storefront string, since time.Time, dry bool) ([]time.Time, time.Time, error) {
	pipe := s.rdb.Pipeline()
	read := s.RecentIn(ctx, pipe, recipient, storefront, since, dry)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, time.Time{}, fmt.Errorf("read send history: %w", err)
	}
	return read()
}

// RecentIn queues Recent's reads on pipe, so that they can share a round
// trip with other reads; the returned function gives the result once pipe
// has run.
func (s *Store) RecentIn(ctx context.Context, pipe redis.Pipeliner, recipient, storefront string, since time.Time, dry bool) func() ([]time.Time, time.Time, error) {
	hist := pipe.ZRangeByScoreWithScores(ctx, s.historyKey(recipient, dry), &redis.ZRangeBy{
		Min: "(" + strconv.FormatInt(since.UnixMilli(), 10), Max: "+inf"})
	ord := pipe.HGet(ctx, s.orderKey(recipient), storefront)
	return func() ([]time.Time, time.Time, error) {
		if err := hist.Err(); err != nil {
			return nil, time.Time{}, fmt.Errorf("read send history: %w", err)
		}
		if err := ord.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return nil, time.Time{}, fmt.Errorf("read last order: %w", err)
		}
		var sent []time.Time
		prefix := storefront + "|"
		for _, z := range hist.Val() {
			if m, _ := z.Member.(string); len(m) > len(prefix) && m[:len(prefix)] == prefix {
				sent = append(sent, time.UnixMilli(int64(z.Score)).UTC())
			}
		}
		var ordered time.Time
		if ms, err := ord.Int64(); err == nil {
			ordered = time.UnixMilli(ms).UTC()
		}
		return sent, ordered, nil
	}
}

// NoteWouldSend counts a dry run's would-send in the dry history, so that
// the dry run's frequency cap behaves as the live one would.
func (s *Store) NoteWouldSend(ctx context.Context, recipient, storefront, basketID string, step int, pace Pace) error {
	key := s.historyKey(recipient, true)
	pipe := s.rdb.TxPipeline()
	pipe.ZAdd(ctx, key, redis.Z{Score: float64(pace.Now.UnixMilli()), Member: historyMember(storefront, basketID, step)})
	pipe.ZRemRangeByScore(ctx, key, "-inf", "("+strconv.FormatInt(pace.Now.Add(-pace.Keep).UnixMilli(), 10))
	pipe.PExpire(ctx, key, max(pace.Keep, time.Second))
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("note a dry-run send: %w", err)
	}
	return nil
}

//go:embed lua/order.lua
var orderSrc string
var orderScript = redis.NewScript(orderSrc)

// NoteOrder records that recipient ordered at storefront at at: every open
// reminder sequence of theirs there whose basket saw no activity since
// ends (policy.Ordered). Kept as long as baskets are.
func (s *Store) NoteOrder(ctx context.Context, recipient, storefront string, at time.Time) error {
	// Confirmed by the replicas asked for, as the apply is: lost in a
	// failover, the order would no longer end the person's other sequences.
	cmd, err := s.opts.Replication.Script(ctx, s.rdb, orderScript, []string{s.orderKey(recipient)}, storefront, at.UnixMilli(), seconds(s.opts.BasketTTL))
	if err == nil {
		err = cmd.Err()
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("note order: %w", err)
	}
	return nil
}
