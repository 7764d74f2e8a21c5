package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/basketassist/basketassist/basket"
)

// scriptTimes breaks redis-server's command time down by command, and by
// script for EVALSHA, from SLOWLOG with every command logged. Logging
// every command slows Redis, so the send it watches is slower than the
// figure without it (-scripts).
type scriptTimes struct {
	byName    map[string]*commandTime
	reminders int
}

type commandTime struct {
	calls int64
	took  time.Duration
}

// watch logs every command from now on, until the returned stop, which
// restores the configuration and adds what was logged for n reminders (0:
// the measurement failed, nothing is added).
func (s *scriptTimes) watch(ctx context.Context, rdb *redis.Client) (stop func(n int), err error) {
	old, err := rdb.ConfigGet(ctx, "slowlog-*").Result()
	if err != nil {
		return nil, err
	}
	pipe := rdb.Pipeline()
	pipe.ConfigSet(ctx, "slowlog-max-len", "1000000")
	pipe.ConfigSet(ctx, "slowlog-log-slower-than", "0")
	pipe.SlowLogReset(ctx)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	return func(n int) {
		entries, err := rdb.SlowLogGet(ctx, -1).Result()
		pipe := rdb.Pipeline()
		for k, v := range old {
			pipe.ConfigSet(ctx, k, v)
		}
		pipe.SlowLogReset(ctx)
		_, _ = pipe.Exec(ctx)
		if err == nil && n > 0 {
			s.add(entries, n)
		}
	}, nil
}

func (s *scriptTimes) add(entries []redis.SlowLog, n int) {
	if s.byName == nil {
		s.byName = map[string]*commandTime{}
	}
	names := basket.ScriptNames()
	for _, e := range entries {
		if len(e.Args) == 0 {
			continue
		}
		name := strings.ToLower(e.Args[0])
		switch {
		case name == "slowlog" || name == "config":
			continue // the watch itself
		case name == "evalsha" && len(e.Args) > 1:
			if script, ok := names[e.Args[1]]; ok {
				name = script
			} else {
				name = "asynq's scripts"
			}
		}
		c := s.byName[name]
		if c == nil {
			c = &commandTime{}
			s.byName[name] = c
		}
		c.calls++
		c.took += e.Duration
	}
	s.reminders += n
}

// String is the largest parts, per reminder: "handover.lua 60 µs (1.0 calls), …".
func (s scriptTimes) String() string {
	if s.reminders == 0 {
		return "-"
	}
	names := make([]string, 0, len(s.byName))
	var total time.Duration
	for name, c := range s.byName {
		names = append(names, name)
		total += c.took
	}
	sort.Slice(names, func(i, j int) bool { return s.byName[names[i]].took > s.byName[names[j]].took })
	n := float64(s.reminders)
	parts := []string{}
	for _, name := range names[:min(8, len(names))] {
		c := s.byName[name]
		parts = append(parts, fmt.Sprintf("%s %.1f µs (%.2f calls)", name, float64(c.took.Microseconds())/n, float64(c.calls)/n))
	}
	return fmt.Sprintf("%.0f µs in all: %s", float64(total.Microseconds())/n, strings.Join(parts, ", "))
}
