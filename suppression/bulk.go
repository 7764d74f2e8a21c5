package suppression

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/basketassist/basketassist/replication"
	"github.com/basketassist/basketassist/secrets"
)

// AddMany writes entries in one pipeline (one round trip), keeping existing
// entries as Add does. It returns how many were new.
func (s *Store) AddMany(ctx context.Context, entries []Entry) (int, error) {
	if len(entries) == 0 {
		return 0, nil
	}
	now := s.now().UTC()
	values := make([][]byte, len(entries))
	for i, e := range entries {
		if e.CreatedAt.IsZero() {
			e.CreatedAt = now
		}
		v, err := json.Marshal(e)
		if err != nil {
			return 0, fmt.Errorf("encode suppression: %w", err)
		}
		values[i] = v
	}
	cmds := make([]*redis.BoolCmd, len(entries))
	err := s.Replication.Pipelined(ctx, s.rdb, func(p redis.Pipeliner) {
		for i, e := range entries {
			cmds[i] = p.HSetNX(ctx, s.key(e.Recipient), field(e.Storefront, e.Scope), values[i])
		}
	})
	if err != nil && !errors.Is(err, replication.ErrNotReplicated) {
		return 0, fmt.Errorf("add %d suppressions: %w", len(entries), err)
	}
	replicated := err
	added := 0
	debug := s.log.Enabled(ctx, slog.LevelDebug)
	for i, c := range cmds {
		if c.Val() {
			added++
			s.changed("added", entries[i])
			if debug { // a million-row import would drown an info log; ImportCSV logs a summary
				e := entries[i]
				s.log.DebugContext(ctx, "suppression added", "recipient", e.Recipient.String(), "scope", e.Scope,
					"storefront", e.Storefront, "reason", e.Reason, "origin", e.Origin)
			}
		}
	}
	if replicated != nil {
		return added, fmt.Errorf("add %d suppressions: %w", len(entries), replicated)
	}
	return added, nil
}

// CheckMany checks many recipients at once, with the semantics of Check.
// The result is in the order of rs.
func (s *Store) CheckMany(ctx context.Context, rs []secrets.Recipient, storefront string, scope Scope) ([]bool, error) {
	return s.checkChunks(ctx, len(rs), func(i int) secrets.Recipient { return rs[i] }, storefront, scope)
}

// CheckAddresses is CheckMany for addresses, hashed with keys as they are
// checked.
func (s *Store) CheckAddresses(ctx context.Context, keys *secrets.Keys, addresses []string, storefront string, scope Scope) ([]bool, error) {
	return s.checkChunks(ctx, len(addresses), func(i int) secrets.Recipient { return keys.Recipient(addresses[i]) }, storefront, scope)
}

// checkChunks checks n recipients, recipient(i) giving each. A large batch
// goes as a few pipelines on separate connections at once, so that hashing
// and encoding one overlaps Redis answering another.
func (s *Store) checkChunks(ctx context.Context, n int, recipient func(int) secrets.Recipient, storefront string, scope Scope) ([]bool, error) {
	fields := blockingFields(storefront, scope)
	out := make([]bool, n)
	const chunk = 250
	if n <= chunk {
		return out, s.checkChunk(ctx, 0, n, recipient, fields, out)
	}
	var wg sync.WaitGroup
	errs := make([]error, (n+chunk-1)/chunk)
	for from := 0; from < n; from += chunk {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[from/chunk] = s.checkChunk(ctx, from, min(from+chunk, n), recipient, fields, out)
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func (s *Store) checkChunk(ctx context.Context, from, to int, recipient func(int) secrets.Recipient, fields []string, out []bool) error {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, to-from)
	for i := range cmds {
		cmds[i] = pipe.HMGet(ctx, s.key(recipient(from+i)), fields...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("check %d suppressions: %w", len(cmds), err)
	}
	for i, c := range cmds {
		for _, v := range c.Val() {
			if v != nil {
				out[from+i] = true
			}
		}
	}
	return nil
}

// Filter selects entries when listing. The zero value selects everything.
type Filter struct {
	Scope Scope // "" for any
	// Storefront: "" for any, "*" for global entries only, else that storefront's.
	Storefront string
	Reason     Reason    // "" for any
	Since      time.Time // zero for any; else entries created at or after it
}

func (f Filter) match(e Entry) bool {
	if f.Scope != "" && e.Scope != f.Scope {
		return false
	}
	if f.Reason != "" && e.Reason != f.Reason {
		return false
	}
	if !f.Since.IsZero() && e.CreatedAt.Before(f.Since) {
		return false
	}
	switch f.Storefront {
	case "":
		return true
	case "*":
		return e.Storefront == ""
	default:
		return e.Storefront == f.Storefront
	}
}

// List returns a page of entries matching f, walking the keyspace with SCAN
// from cursor (0 to start). The next cursor is 0 when the walk is complete.
// A page may hold fewer or more entries than count, as SCAN pages do.
func (s *Store) List(ctx context.Context, cursor uint64, count int64, f Filter) ([]Entry, uint64, error) {
	keys, next, err := s.rdb.Scan(ctx, cursor, s.prefix+"sup:{*}", count).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("list suppressions: %w", err)
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.HGetAll(ctx, k)
	}
	if len(keys) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, 0, fmt.Errorf("list suppressions: %w", err)
		}
	}
	var out []Entry
	for i, k := range keys {
		r, err := secrets.ParseRecipient(k[strings.IndexByte(k, '{')+1 : len(k)-1])
		if err != nil {
			continue // not ours
		}
		for _, raw := range cmds[i].Val() {
			var e Entry
			if json.Unmarshal([]byte(raw), &e) != nil {
				continue
			}
			e.Recipient = r
			if f.match(e) {
				out = append(out, e)
			}
		}
	}
	return out, next, nil
}

// RemoveMatching removes every entry that f matches, walking the list a
// page at a time (one HDEL pipeline per page), and returns how many it
// removed; with dryRun it only counts them. It is the undo for a wave of
// wrong suppressions, e.g. every hard_bounce since a relay went bad.
func (s *Store) RemoveMatching(ctx context.Context, f Filter, origin Origin, dryRun bool) (int, error) {
	var cursor uint64
	n := 0
	for {
		entries, next, err := s.List(ctx, cursor, 1000, f)
		if err != nil {
			return n, err
		}
		if !dryRun && len(entries) > 0 {
			pipe := s.rdb.Pipeline()
			cmds := make([]*redis.IntCmd, len(entries))
			for i, e := range entries {
				cmds[i] = pipe.HDel(ctx, s.key(e.Recipient), field(e.Storefront, e.Scope))
			}
			if _, err := pipe.Exec(ctx); err != nil {
				return n, fmt.Errorf("remove suppressions: %w", err)
			}
			for i, e := range entries {
				if cmds[i].Val() == 0 {
					continue // removed meanwhile
				}
				e.Origin = origin
				s.changed("removed", e)
				s.log.DebugContext(ctx, "suppression removed", "recipient", e.Recipient.String(), "scope", e.Scope,
					"storefront", e.Storefront, "reason", e.Reason, "origin", origin)
			}
		}
		n += len(entries)
		if cursor = next; cursor == 0 {
			break
		}
	}
	if !dryRun {
		s.log.InfoContext(ctx, "suppressions removed in bulk", "removed", n, "scope", f.Scope, "storefront", f.Storefront,
			"reason", f.Reason, "since", f.Since, "origin", origin)
	}
	return n, nil
}
