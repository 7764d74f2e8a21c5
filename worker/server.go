package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/basketassist/basketassist/mail"
)

// ServerOptions configures the asynq server. Zero values: 20 workers, due
// tasks checked every second, retries from 30 s doubling up to 1 h, 30 s to
// finish in-flight tasks on shutdown.
type ServerOptions struct {
	Concurrency     int
	PollInterval    time.Duration
	RetryBase       time.Duration
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
}

// NewServer returns an asynq server for the events and email queues on rdb.
// The caller keeps ownership of rdb: asynq does not close it.
func NewServer(rdb redis.UniversalClient, o ServerOptions) *asynq.Server {
	if o.Concurrency <= 0 {
		o.Concurrency = 20
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 100 * time.Millisecond
	}
	if o.RetryBase <= 0 {
		o.RetryBase = 30 * time.Second
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: o.Concurrency,
		// Events first: a purchase should be applied before the reminder it cancels is sent.
		Queues:                   map[string]int{QueueEvents: 6, QueueEmail: 3},
		DelayedTaskCheckInterval: o.PollInterval,
		TaskCheckInterval:        o.PollInterval,
		RetryDelayFunc:           deferOr(Backoff(o.RetryBase, time.Hour)),
		IsFailure:                func(err error) bool { return !errors.As(err, new(*Deferred)) },
		ShutdownTimeout:          o.ShutdownTimeout,
		Logger:                   asynqLogger{o.Logger},
		LogLevel:                 asynq.WarnLevel,
	})
}

// Backoff returns asynq's retry delay: base, doubled per retry, capped at max.
func Backoff(base, max time.Duration) asynq.RetryDelayFunc {
	return func(n int, _ error, _ *asynq.Task) time.Duration {
		d := base
		for i := 0; i < n && d < max; i++ {
			d *= 2
		}
		return min(d, max)
	}
}

// Deferred is returned by a handler to put its task off until Until. It
// is not a failure and spends no retry (River's JobSnooze): asynq moves the
// task to its retry set with the retry count unchanged, and the deferral
// shows there, with this text, in asynqmon.
type Deferred struct {
	Until  time.Time
	Reason string
	// After is how long from the decision to Until, by the handler's clock
	// (tests inject one); 0: until Until by the wall clock.
	After time.Duration
}

func (d *Deferred) Error() string {
	return "deferred until " + d.Until.UTC().Format(time.RFC3339Nano) + " (" + d.Reason + ")"
}

// deferOr returns Deferred's own delay for a deferral, else backoff's.
func deferOr(backoff asynq.RetryDelayFunc) asynq.RetryDelayFunc {
	return func(n int, err error, t *asynq.Task) time.Duration {
		var d *Deferred
		if errors.As(err, &d) {
			wait := d.After
			if wait == 0 {
				wait = time.Until(d.Until)
			}
			// Whole seconds, rounded up: asynq keeps due times in seconds,
			// and a task run a moment early is only deferred again.
			return max(wait.Truncate(time.Second)+time.Second, 0)
		}
		return backoff(n, err, t)
	}
}

// logTasks logs each task's failure with its id and type; never its payload.
func logTasks(log *slog.Logger) asynq.MiddlewareFunc {
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			start := time.Now()
			err := next.ProcessTask(ctx, t)
			if d := new(*Deferred); errors.As(err, d) {
				id, _ := asynq.GetTaskID(ctx)
				log.DebugContext(ctx, "task deferred", "task_id", id, "task_type", t.Type(), "until", (*d).Until, "reason", (*d).Reason)
				return err
			}
			if err != nil {
				id, _ := asynq.GetTaskID(ctx)
				retried, _ := asynq.GetRetryCount(ctx)
				log.WarnContext(ctx, "task failed", "task_id", id, "task_type", t.Type(),
					"retry", retried, "took", time.Since(start).String(), "error", mail.Describe(err))
			}
			return err
		})
	}
}

// asynqLogger adapts slog to asynq.Logger.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) {
	a.l.Error(fmt.Sprint(args...), "component", "asynq", "fatal", true)
}
