package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/basketassist/basketassist/mail"
)

// ServerOptions configures the asynq servers. Zero values: 20 email
// workers (and 5 for events), due work checked every 100 ms, retries from
// 30 s doubling up to 1 h, 30 s to finish in-flight tasks on shutdown.
type ServerOptions struct {
	Concurrency     int
	PollInterval    time.Duration
	RetryBase       time.Duration
	ShutdownTimeout time.Duration
	Logger          *slog.Logger // asynq's own lines, e.g. With("component", "asynq")
}

// Server runs the two queues, each on an asynq server of its own: asynq
// tries its dequeue script on each of a server's queues in turn, so one
// server for both spent a script on the often empty events queue before
// most reminders. Events get workers of their own too, so a purchase is
// applied however long the email queue is.
type Server struct {
	servers []*asynq.Server
}

// NewServer returns the servers of the events and email queues on rdb:
// Concurrency email tasks at once, and a quarter of that (at least one)
// event tasks. The caller keeps ownership of rdb: asynq does not close it.
func NewServer(rdb redis.UniversalClient, o ServerOptions) *Server {
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
	config := func(queue string, concurrency int) asynq.Config {
		return asynq.Config{
			Concurrency:              concurrency,
			Queues:                   map[string]int{queue: 1},
			DelayedTaskCheckInterval: o.PollInterval,
			TaskCheckInterval:        o.PollInterval,
			RetryDelayFunc:           deferOr(Backoff(o.RetryBase, time.Hour)),
			IsFailure:                func(err error) bool { return !errors.As(err, new(*Deferred)) },
			ShutdownTimeout:          o.ShutdownTimeout,
			Logger:                   asynqLogger{o.Logger},
			LogLevel:                 asynq.WarnLevel,
		}
	}
	return &Server{servers: []*asynq.Server{
		asynq.NewServerFromRedisClient(rdb, config(QueueEvents, max(1, o.Concurrency/4))),
		asynq.NewServerFromRedisClient(rdb, config(QueueEmail, o.Concurrency)),
	}}
}

// Start starts every server with h.
func (s *Server) Start(h asynq.Handler) error {
	for i, srv := range s.servers {
		if err := srv.Start(h); err != nil {
			for _, started := range s.servers[:i] {
				started.Shutdown()
			}
			return err
		}
	}
	return nil
}

// Shutdown stops the servers at once, each finishing its in-flight tasks
// within ShutdownTimeout.
func (s *Server) Shutdown() {
	var wg sync.WaitGroup
	for _, srv := range s.servers {
		wg.Add(1)
		go func() { defer wg.Done(); srv.Shutdown() }()
	}
	wg.Wait()
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
			return d.delay()
		}
		return backoff(n, err, t)
	}
}

// delay is how long from now asynq is to hold the deferred task: whole
// seconds, rounded up, as asynq keeps due times in seconds, and a task run
// a moment early is only deferred again.
func (d *Deferred) delay() time.Duration {
	wait := d.After
	if wait == 0 {
		wait = time.Until(d.Until)
	}
	return max(wait.Truncate(time.Second)+time.Second, 0)
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

// asynqLogger adapts slog to asynq.Logger; ServerOptions.Logger names the
// component.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...), "fatal", true) }
