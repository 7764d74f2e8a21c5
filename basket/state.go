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

// A basket's state is one string (lua/state.lua has the layout and the
// scripts that read and write it): one key per pending basket instead of a
// hash, a data string and a marker per event, which made a pending basket
// cost 1,346 Redis bytes (BENCHMARKS.md).

//go:embed lua/state.lua
var stateSrc string // load_state and save_state, prepended to every script that touches the state

func (s *Store) tag(storefront, basketID string) string {
	return s.opts.Prefix + "{" + storefront + ":" + basketID + "}"
}

func (s *Store) stateKey(storefront, basketID string) string {
	return s.tag(storefront, basketID) + ":state"
}

// The keys of the layout before the state string; the scripts read them
// and move a basket off them on its next change.
func (s *Store) legacyStateKey(storefront, basketID string) string {
	return s.tag(storefront, basketID) + ":basket"
}

func (s *Store) legacyDataKey(storefront, basketID string) string {
	return s.tag(storefront, basketID) + ":data"
}

func (s *Store) legacyEventKey(storefront, basketID, eventID string) string {
	return s.tag(storefront, basketID) + ":evt:" + eventID
}

// state is a basket's state as the Go side reads it (export, explain).
type state struct {
	Version      int64
	LastActivity time.Time
	Status       Status
	Sent         int
	Task         bool // a reminder is wanted: TaskID(…, Sent+1, Version)
	Customer     string
	Contents     string
}

// parseState reads the state string as state.lua's load_state does.
func parseState(d string) (state, bool) {
	head, body, found := strings.Cut(d, "\n")
	f := strings.Fields(head)
	if !found || len(f) < 8 {
		return state{}, false
	}
	var st state
	var at, sent, n int64
	var err error
	for _, p := range []struct {
		field string
		to    *int64
	}{{f[0], &st.Version}, {f[1], &at}, {f[3], &sent}, {f[7], &n}} {
		if *p.to, err = strconv.ParseInt(p.field, 10, 64); err != nil {
			return state{}, false
		}
	}
	if n < 0 || n > int64(len(body)) {
		return state{}, false
	}
	st.LastActivity = time.UnixMilli(at).UTC()
	st.Status, st.Sent, st.Task = Status(f[2]), int(sent), f[4] == "1"
	st.Customer, st.Contents = body[:n], body[n:]
	return st, true
}

// splitLegacyData reads a legacy data string, "<customer length>:<customer><contents>".
func splitLegacyData(d string) (customer, contents string, ok bool) {
	n, rest, found := strings.Cut(d, ":")
	size, err := strconv.Atoi(n)
	if !found || err != nil || size < 0 || size > len(rest) {
		return "", "", false
	}
	return rest[:size], rest[size:], true
}

// readStateIn queues the reads of a basket's state, in either layout, on
// pipe; the returned function gives the state once pipe has run (ok false
// when the basket is gone).
func (s *Store) readStateIn(ctx context.Context, pipe redis.Pipeliner, storefront, basketID string) func() (state, bool) {
	cur := pipe.Get(ctx, s.stateKey(storefront, basketID))
	hash := pipe.HGetAll(ctx, s.legacyStateKey(storefront, basketID))
	data := pipe.Get(ctx, s.legacyDataKey(storefront, basketID))
	return func() (state, bool) {
		if d, err := cur.Result(); err == nil {
			return parseState(d)
		}
		h := hash.Val()
		if h["v"] == "" {
			return state{}, false
		}
		st := state{Status: Status(h["status"]), Task: h["task"] != "", Customer: h["customer"], Contents: h["contents"]}
		st.Version, _ = strconv.ParseInt(h["v"], 10, 64)
		if ms, err := strconv.ParseInt(h["at"], 10, 64); err == nil {
			st.LastActivity = time.UnixMilli(ms).UTC()
		}
		st.Sent, _ = strconv.Atoi(h["sent"])
		if customer, contents, ok := splitLegacyData(data.Val()); ok {
			st.Customer, st.Contents = customer, contents
		}
		return st, true
	}
}

// stateTTLIn queues the read of a basket's remaining life, in either layout.
func (s *Store) stateTTLIn(ctx context.Context, pipe redis.Pipeliner, storefront, basketID string) func() time.Duration {
	cur := pipe.TTL(ctx, s.stateKey(storefront, basketID))
	legacy := pipe.TTL(ctx, s.legacyStateKey(storefront, basketID))
	return func() time.Duration { return max(cur.Val(), legacy.Val()) }
}

// Status says where a basket stands; ErrNoBasket when it is not known.
func (s *Store) Status(ctx context.Context, storefront, basketID string) (Status, error) {
	pipe := s.rdb.Pipeline()
	read := s.readStateIn(ctx, pipe, storefront, basketID)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("read basket %s: %w", basketID, err)
	}
	st, ok := read()
	if !ok {
		return "", ErrNoBasket
	}
	return st.Status, nil
}
