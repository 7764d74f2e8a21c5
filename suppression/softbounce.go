package suppression

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/basketassist/basketassist/secrets"
)

// softBounceTTL bounds "in a row": a streak with no bounce for this long
// starts again from zero.
const softBounceTTL = 30 * 24 * time.Hour

func (s *Store) softKey(r secrets.Recipient) string { return s.prefix + "soft:{" + r.String() + "}" }

// SoftBounce counts a temporary refusal about r (a full or busy mailbox) and,
// once limit of them came in a row, suppresses r globally as soft_bounce
// and reports true. limit <= 0 counts nothing. Only a delivered email
// (ClearSoftBounces) breaks the streak.
func (s *Store) SoftBounce(ctx context.Context, r secrets.Recipient, limit int) (bool, error) {
	if limit <= 0 {
		return false, nil
	}
	pipe := s.rdb.Pipeline()
	n := pipe.Incr(ctx, s.softKey(r))
	pipe.Expire(ctx, s.softKey(r), softBounceTTL)
	if _, err := pipe.Exec(ctx); err != nil {
		return false, fmt.Errorf("count soft bounce: %w", err)
	}
	if n.Val() < int64(limit) {
		return false, nil
	}
	if _, err := s.Add(ctx, Entry{Recipient: r, Scope: All, Reason: SoftBounce, Origin: System}); err != nil {
		return false, err
	}
	if err := s.rdb.Del(ctx, s.softKey(r)).Err(); err != nil {
		return true, fmt.Errorf("reset soft bounces: %w", err)
	}
	return true, nil
}

// ClearSoftBounces ends r's streak of soft bounces: an email got through.
func (s *Store) ClearSoftBounces(ctx context.Context, r secrets.Recipient) error {
	if err := s.rdb.Del(ctx, s.softKey(r)).Err(); err != nil {
		return fmt.Errorf("reset soft bounces: %w", err)
	}
	return nil
}

// SoftBouncesIn queues on pipe a read of r's current streak of soft
// bounces; the returned func reports it once pipe has run. A sender reads it
// with its other checks and clears the streak only when there is one, which
// spares a write per delivered email.
func (s *Store) SoftBouncesIn(ctx context.Context, pipe redis.Pipeliner, r secrets.Recipient) func() (int64, error) {
	cmd := pipe.Get(ctx, s.softKey(r))
	return func() (int64, error) {
		n, err := cmd.Int64()
		if errors.Is(err, redis.Nil) {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("read soft bounces: %w", err)
		}
		return n, nil
	}
}
