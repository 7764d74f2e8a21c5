package redisinfo

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/internal/redistest"
)

func TestCommandsCountsCallsAndScripts(t *testing.T) {
	rdb := redistest.Private(t) // server-wide statistics: no other test's commands
	ctx := context.Background()
	require.NoError(t, rdb.ConfigResetStat(ctx).Err())
	for range 3 {
		require.NoError(t, rdb.Set(ctx, "k", "v", 0).Err())
	}
	require.NoError(t, rdb.Eval(ctx, `return redis.call('GET', KEYS[1])`, []string{"k"}).Err())
	stats, err := Commands(ctx, rdb)
	require.NoError(t, err)
	assert.EqualValues(t, 3, stats["set"].Calls)
	assert.EqualValues(t, 1, stats["eval"].Calls)
	assert.EqualValues(t, 1, stats["get"].Calls, "a command a script calls counts under its own name")
	assert.Positive(t, stats["eval"].Usec)
	assert.Contains(t, stats, "config|resetstat", "subcommands keep their full name")
}

func TestFieldReadsASection(t *testing.T) {
	rdb := redistest.Private(t)
	v, err := Field(context.Background(), rdb, "server", "redis_version")
	require.NoError(t, err)
	assert.Regexp(t, `^\d+\.\d+`, v)
	_, err = Field(context.Background(), rdb, "server", "no_such_field")
	assert.ErrorContains(t, err, "no_such_field")
}

func TestValuesReadsEveryType(t *testing.T) {
	rdb := redistest.Client(t)
	ctx := context.Background()
	require.NoError(t, rdb.Set(ctx, "s", "a string", 0).Err())
	require.NoError(t, rdb.HSet(ctx, "h", "field", "value").Err())
	require.NoError(t, rdb.RPush(ctx, "l", "first", "second").Err())
	require.NoError(t, rdb.SAdd(ctx, "set", "member").Err())
	require.NoError(t, rdb.ZAdd(ctx, "z", redis.Z{Score: 1, Member: "ranked"}).Err())
	require.NoError(t, rdb.XAdd(ctx, &redis.XAddArgs{Stream: "x", Values: []string{"name", "entry"}}).Err())
	for key, want := range map[string][]string{
		"s": {"a string"}, "h": {"field", "value"}, "l": {"first", "second"}, "set": {"member"},
		"z": {"ranked"}, "x": {"name", "entry"}, "gone": nil,
	} {
		got, err := Values(ctx, rdb, key)
		require.NoError(t, err, key)
		assert.ElementsMatch(t, want, got, key)
	}
}
