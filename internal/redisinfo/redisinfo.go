// Package redisinfo reads Redis's INFO replies: one field of a section,
// and the per-command figures of INFO commandstats. Tests that count a
// feature's Redis commands and the benchmark share it.
package redisinfo

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Field is the value of name in INFO section, e.g. Field(ctx, rdb,
// "server", "redis_version").
func Field(ctx context.Context, rdb redis.UniversalClient, section, name string) (string, error) {
	info, err := rdb.Info(ctx, section).Result()
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), name+":"); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("INFO %s has no %s", section, name)
}

// Command is what INFO commandstats reports of one command since the
// last CONFIG RESETSTAT. Commands that scripts call count under their own
// names as well as in the script's EVALSHA.
type Command struct {
	Calls int64
	Usec  int64 // time spent executing it, in microseconds
}

// Commands reads INFO commandstats, by command name ("get", "evalsha",
// "config|resetstat"); the INFO that reads it is counted too.
func Commands(ctx context.Context, rdb redis.UniversalClient) (map[string]Command, error) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, err
	}
	stats := map[string]Command{}
	for _, line := range strings.Split(info, "\n") {
		name, figures, ok := strings.Cut(strings.TrimPrefix(strings.TrimRight(line, "\r"), "cmdstat_"), ":")
		if !ok || !strings.HasPrefix(line, "cmdstat_") {
			continue
		}
		var c Command
		for _, kv := range strings.Split(figures, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "calls":
				if c.Calls, err = strconv.ParseInt(v, 10, 64); err != nil {
					return nil, fmt.Errorf("INFO commandstats: %s: %w", name, err)
				}
			case "usec":
				if c.Usec, err = strconv.ParseInt(v, 10, 64); err != nil {
					return nil, fmt.Errorf("INFO commandstats: %s: %w", name, err)
				}
			}
		}
		stats[name] = c
	}
	return stats, nil
}
