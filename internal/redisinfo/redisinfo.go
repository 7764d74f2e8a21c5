// Package redisinfo reads what Redis says of itself and holds: one field
// of an INFO section, the per-command figures of INFO commandstats, and
// everything one key holds, whatever its type. Tests that count a
// feature's Redis commands, the benchmark, and the scans for personal
// data (the end-to-end tests, the fault suite) share it.
package redisinfo

import (
	"context"
	"errors"
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

// Values returns everything key holds, as strings: a string's value, a
// hash's fields and values, the members of a list, a set or a sorted set,
// the fields and values of a stream's entries. A key that is gone (it
// expired meanwhile) holds nothing; a type not named here is an error, so
// that a scan for personal data never passes a key over unread.
func Values(ctx context.Context, rdb redis.UniversalClient, key string) ([]string, error) {
	typ, err := rdb.Type(ctx, key).Result()
	if err != nil {
		return nil, err
	}
	switch typ {
	case "string":
		v, err := rdb.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		return []string{v}, err
	case "hash":
		fields, err := rdb.HGetAll(ctx, key).Result()
		vals := make([]string, 0, 2*len(fields))
		for f, v := range fields {
			vals = append(vals, f, v)
		}
		return vals, err
	case "list":
		return rdb.LRange(ctx, key, 0, -1).Result()
	case "set":
		return rdb.SMembers(ctx, key).Result()
	case "zset":
		return rdb.ZRange(ctx, key, 0, -1).Result()
	case "stream":
		entries, err := rdb.XRange(ctx, key, "-", "+").Result()
		var vals []string
		for _, e := range entries {
			for f, v := range e.Values {
				vals = append(vals, f, fmt.Sprint(v))
			}
		}
		return vals, err
	case "none":
		return nil, nil
	}
	return nil, fmt.Errorf("key %s: type %s is not read", key, typ)
}
