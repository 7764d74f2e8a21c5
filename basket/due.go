package basket

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The due index is where reminders wait until they are due: one sorted
// set, "<prefix>due", scored by due time in milliseconds, its members task
// ids. apply.lua and finish.lua add and remove members in the same atomic
// step that decides them, so scheduling and rescheduling cost no round
// trip of their own; a dispatcher (worker.Dispatcher) hands each to the
// queue when it falls due, to the millisecond rather than asynq's whole
// seconds. A waiting reminder costs one member (about 70 bytes), not an
// asynq task.

// DueIndexKey is the due index's key for a key prefix.
func DueIndexKey(prefix string) string { return prefix + "due" }

func (s *Store) dueKey() string { return DueIndexKey(s.opts.Prefix) }

// stepDelays are the steps' delays in milliseconds, as the scripts take them.
func (s *Store) stepDelays() []any {
	out := make([]any, len(s.opts.Steps))
	for i, d := range s.opts.Steps {
		out[i] = d.Milliseconds()
	}
	return out
}

// Reminder is one step of one basket version, due at Due.
type Reminder struct {
	Task       string
	Storefront string
	BasketID   string
	Step       int
	Version    int64
	Due        time.Time
}

// ParseTaskID reads a task id built by TaskID. Storefront ids hold no
// colon, basket ids may: the step and version are read from the end.
func ParseTaskID(id string) (Reminder, error) {
	bad := fmt.Errorf("basket: %q is not a reminder task id", id)
	rest, ok := strings.CutPrefix(id, "remind:")
	if !ok {
		return Reminder{}, bad
	}
	sf, rest, ok := strings.Cut(rest, ":")
	iv := strings.LastIndex(rest, ":v")
	if !ok || iv < 0 {
		return Reminder{}, bad
	}
	version, err := strconv.ParseInt(rest[iv+2:], 10, 64)
	rest = rest[:iv]
	is := strings.LastIndex(rest, ":s")
	if err != nil || is < 1 {
		return Reminder{}, bad
	}
	step, err := strconv.Atoi(rest[is+2:])
	if err != nil {
		return Reminder{}, bad
	}
	return Reminder{Task: id, Storefront: sf, BasketID: rest[:is], Step: step, Version: version}, nil
}

//go:embed lua/due.lua
var dueSrc string
var dueScript = redis.NewScript(dueSrc)

// TakeDue leases up to limit reminders due at now for lease, oldest first:
// until the lease ends no other dispatcher takes them. The caller queues
// each and then calls Dispatched; a reminder whose dispatcher died falls
// due again when its lease ends.
func (s *Store) TakeDue(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Reminder, error) {
	res, err := dueScript.Run(ctx, s.rdb, []string{s.dueKey()}, now.UnixMilli(), limit, now.Add(lease).UnixMilli()).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("take due reminders: %w", err)
	}
	out := make([]Reminder, 0, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		r, err := ParseTaskID(res[i])
		if err != nil {
			return out, err
		}
		ms, _ := strconv.ParseFloat(res[i+1], 64)
		r.Due = time.UnixMilli(int64(ms)).UTC()
		out = append(out, r)
	}
	return out, nil
}

// Dispatched removes reminders from the due index once they are queued.
func (s *Store) Dispatched(ctx context.Context, tasks ...string) error {
	if len(tasks) == 0 {
		return nil
	}
	members := make([]any, len(tasks))
	for i, t := range tasks {
		members[i] = t
	}
	if err := s.rdb.ZRem(ctx, s.dueKey(), members...).Err(); err != nil {
		return fmt.Errorf("mark %d reminders dispatched: %w", len(tasks), err)
	}
	return nil
}

// Unschedule removes tasks from the due index and returns those that were
// waiting there; the others are in the queue already, or gone.
func (s *Store) Unschedule(ctx context.Context, tasks []string) (map[string]bool, error) {
	waiting := map[string]bool{}
	for len(tasks) > 0 {
		batch := tasks[:min(len(tasks), 1000)]
		tasks = tasks[len(batch):]
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.IntCmd, len(batch))
		for i, t := range batch {
			cmds[i] = pipe.ZRem(ctx, s.dueKey(), t)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return waiting, fmt.Errorf("unschedule reminders: %w", err)
		}
		for i, c := range cmds {
			if c.Val() == 1 {
				waiting[batch[i]] = true
			}
		}
	}
	return waiting, nil
}

// DueAt says when task is due, if it waits in the due index.
func (s *Store) DueAt(ctx context.Context, task string) (time.Time, bool, error) {
	ms, err := s.rdb.ZScore(ctx, s.dueKey(), task).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read due time: %w", err)
	}
	return time.UnixMilli(int64(ms)).UTC(), true, nil
}

// Waiting counts the reminders in the due index.
func (s *Store) Waiting(ctx context.Context) (int64, error) {
	return s.rdb.ZCard(ctx, s.dueKey()).Result()
}
