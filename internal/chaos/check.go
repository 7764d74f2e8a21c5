package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/bounce"
	"github.com/basketassist/basketassist/internal/redisinfo"
	"github.com/basketassist/basketassist/worker"
)

// needle is in every shopper's address and nowhere else.
const needle = "shop.test"

// report is what one scenario came to.
type report struct {
	scenario string
	baskets  int
	expected int // reminders owed: neither unsubscribed in time nor bought
	sent     int // shoppers who received a reminder

	duplicates           int // shoppers who received more than one
	lostNeverHandedOver  int // owed, never received, and not in doubt
	inDoubt              int // claims recorded in_doubt
	inDoubtUndelivered   int // of those, the sink never got the final dot
	sentAfterUnsubscribe int // the transaction began after the unsubscribe was acknowledged
	sentAfterPurchase    int // the transaction began after the purchase was applied
	unsubInTime          int // unsubscribed shoppers whose reminder was stopped
	unsubLate            int // unsubscribed after the hand-over, so mailed (allowed)
	boughtInTime         int // buyers whose reminder was stopped
	boughtLate           int // bought after the hand-over, so mailed (allowed)
	droppedAfterDot      int // the sink kept the message and hung up
	tempFails            int // 451 replies given
	mismatched           int // Redis says sent but the sink has nothing, or the reverse, or a wrong recipient
	archived             int // reminder tasks archived (given up)
	piiRedis             []string
	piiLogs              []string
	piiMetrics           bool
	details              []string // what Redis holds for each lost or mismatched basket
	// doubts: the same for each in doubt and never received. Allowed (a
	// worker killed between hand-over and dot), but where no worker died
	// it is worth a look, so it is printed and the run's logs kept.
	doubts []string
	kills  int
	took   time.Duration
}

func (r *report) line() string {
	return fmt.Sprintf("scenario=%s baskets=%d expected=%d sent=%d duplicates=%d lost_never_handed_over=%d in_doubt=%d "+
		"in_doubt_undelivered=%d sent_after_unsubscribe=%d sent_after_purchase=%d unsubscribes_honoured=%d/%d "+
		"purchases_honoured=%d/%d dropped_after_final_dot=%d smtp_451=%d "+
		"kills=%d mismatched=%d archived=%d pii_redis=%d pii_logs=%d pii_metrics=%t took=%.0fs",
		r.scenario, r.baskets, r.expected, r.sent, r.duplicates, r.lostNeverHandedOver, r.inDoubt, r.inDoubtUndelivered,
		r.sentAfterUnsubscribe, r.sentAfterPurchase, r.unsubInTime, r.unsubInTime+r.unsubLate,
		r.boughtInTime, r.boughtInTime+r.boughtLate, r.droppedAfterDot, r.tempFails, r.kills, r.mismatched, r.archived,
		len(r.piiRedis), len(r.piiLogs), r.piiMetrics, r.took.Seconds())
}

// violations are the broken promises. in_doubt and in_doubt_undelivered
// are not among them: a hand-over whose reply never came is, by contract,
// not sent again.
func (r *report) violations() []string {
	var v []string
	add := func(n int, what string) {
		if n > 0 {
			v = append(v, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(r.duplicates, "shoppers got a reminder twice")
	add(r.lostNeverHandedOver, "owed reminders were never handed over to SMTP")
	add(r.sentAfterUnsubscribe, "reminders began after the shopper's unsubscribe was acknowledged")
	add(r.sentAfterPurchase, "reminders began after the shopper's purchase was applied")
	add(r.mismatched, "reminders where Redis and the SMTP server disagree")
	add(r.archived, "reminder tasks archived")
	v = append(v, r.details...)
	for _, k := range r.piiRedis {
		v = append(v, "address in Redis key "+k)
	}
	for _, f := range r.piiLogs {
		v = append(v, "address in log "+f)
	}
	if r.piiMetrics {
		v = append(v, "address in /metrics")
	}
	return v
}

func (h *harness) check(name string) (*report, error) {
	ctx := context.Background()
	delivered, tempFails, drops := h.sink.snapshot()
	r := &report{scenario: name, baskets: len(h.baskets), tempFails: tempFails, droppedAfterDot: drops}

	pipe := h.rdb.Pipeline()
	claims := make([]*redis.StringCmd, len(h.baskets))
	for i, sh := range h.baskets {
		claims[i] = pipe.Get(ctx, "ba:{chaos:"+sh.id+"}:step:1")
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, fmt.Errorf("read claims: %w", err)
	}
	for i, sh := range h.baskets {
		claim := claims[i].Val()
		// Counted by Message-ID, which names the basket and step.
		got := delivered[bounce.MessageID(h.keys, basket.SendKey("chaos", sh.id), 1, "chaos.example")]
		for _, d := range got {
			if d.Rcpt != sh.email {
				r.mismatched++
			}
		}
		if len(got) > 0 {
			r.sent++
		}
		if len(got) > 1 {
			r.duplicates++
		}
		if claim == "in_doubt" {
			r.inDoubt++
			if len(got) == 0 {
				r.inDoubtUndelivered++
				r.doubts = append(r.doubts, h.describe(ctx, sh, "in doubt, never received:", claim))
			}
		}
		if (claim == "sent") != (len(got) > 0) && claim != "in_doubt" {
			r.mismatched++
			r.details = append(r.details, h.describe(ctx, sh, "mismatched", claim))
		}
		sh.mu.Lock()
		unsub, bought := sh.unsubAcked, sh.purchasedAt
		sh.mu.Unlock()
		for _, d := range got {
			if !unsub.IsZero() && d.MailAt.After(unsub) {
				r.sentAfterUnsubscribe++
			}
			if !bought.IsZero() && d.MailAt.After(bought) {
				r.sentAfterPurchase++
			}
		}
		switch {
		case sh.unsubscribe && len(got) == 0:
			r.unsubInTime++
		case sh.unsubscribe:
			r.unsubLate++
		case sh.purchase && len(got) == 0:
			r.boughtInTime++
		case sh.purchase:
			r.boughtLate++
		}
		owed := !sh.purchase && !(sh.unsubscribe && claim == "suppressed")
		if owed {
			r.expected++
			if len(got) == 0 && claim != "in_doubt" {
				r.lostNeverHandedOver++
				r.details = append(r.details, h.describe(ctx, sh, "lost", claim))
			}
		}
	}
	info, err := asynq.NewInspectorFromRedisClient(h.rdb).GetQueueInfo(worker.QueueEmail)
	if err != nil {
		return nil, fmt.Errorf("inspect email queue: %w", err)
	}
	r.archived = info.Archived
	if r.piiRedis, err = scanRedis(ctx, h.rdb); err != nil {
		return nil, err
	}
	for _, f := range h.fleet.logs() {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if bytes.Contains(b, []byte(needle)) {
			r.piiLogs = append(r.piiLogs, f)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, h.webURL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+h.admin)
	resp, err := h.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	m, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	r.piiMetrics = bytes.Contains(m, []byte(needle))
	return r, nil
}

// describe says what Redis holds of a basket that broke a promise: its
// claim, its state (without the sealed customer) and its reminder task.
func (h *harness) describe(ctx context.Context, sh *shopper, what, claim string) string {
	ex, err := h.state().Explain(ctx, "chaos", sh.id)
	task := basket.TaskID("chaos", sh.id, 1, ex.Version)
	taskState := h.rdb.HGet(ctx, worker.AsynqKey(worker.QueueEmail, "t:"+task), "state").Val()
	return fmt.Sprintf("%s basket %s (unsubscribed=%t purchased=%t): claim=%q state v%d %s (err %v) task %s state=%q",
		what, sh.id, sh.unsubscribe, sh.purchase, claim, ex.Version, ex.Status, err, task, taskState)
}

// scanRedis reads every key and every value, asynq's included, and returns
// the keys whose name or value holds an address.
func scanRedis(ctx context.Context, rdb *redis.Client) ([]string, error) {
	var found []string
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		vals, err := redisinfo.Values(ctx, rdb, key)
		if err != nil {
			return nil, err
		}
		if strings.Contains(key, needle) || strings.Contains(strings.Join(vals, "\x00"), needle) {
			found = append(found, key)
		}
	}
	return found, iter.Err()
}
