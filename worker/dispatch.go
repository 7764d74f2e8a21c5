package worker

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/mail"
	"github.com/basketassist/basketassist/replication"
)

// Dispatcher hands reminders from the due index to the email queue as they
// fall due. Every worker process runs one; leases keep two from taking the
// same reminder, and a second hand-over (a lease that ran out) is harmless.
type Dispatcher struct {
	baskets *basket.Store
	sched   *scheduler
	opts    DispatcherOptions
}

// RemindersPerTask is the most reminders a dispatcher queues in one task
// unless DispatcherOptions.PerTask says otherwise. 10 measured best
// (BENCHMARKS.md, Sends).
const RemindersPerTask = 10

// DispatcherOptions configures a Dispatcher.
type DispatcherOptions struct {
	// Poll is how often the index is read when nothing is due (default 100 ms):
	// it bounds how late a reminder is handed over.
	Poll time.Duration
	// Batch is the most reminders taken per read (default 200).
	Batch int
	// PerTask is the most reminders queued in one task (default
	// RemindersPerTask): a
	// reminders:send task claims, reads and finishes its reminders in
	// shared round trips, and spends asynq's dequeue and completion once
	// for them all. A reminder due alone is queued as its own
	// reminder:send task, under its id.
	PerTask int
	// Lease is how long taken reminders stay with this dispatcher before
	// they fall due again (default 30 s).
	Lease    time.Duration
	MaxRetry int
	// Replication, when it asks for replicas, has each queued task
	// confirmed by them before its reminders leave the due index: a task
	// left on a primary that a failover demotes would take them with it.
	// Prefix is redis.prefix, for the key the confirmation writes.
	Replication replication.Wait
	Prefix      string
	Now         func() time.Time
	Logger      *slog.Logger
}

// NewDispatcher returns a Dispatcher queueing into rdb's asynq queues.
func NewDispatcher(rdb redis.UniversalClient, baskets *basket.Store, o DispatcherOptions) *Dispatcher {
	if o.Poll <= 0 {
		o.Poll = 100 * time.Millisecond
	}
	if o.Batch <= 0 {
		o.Batch = 200
	}
	if o.PerTask <= 0 {
		o.PerTask = RemindersPerTask
	}
	if o.Lease <= 0 {
		o.Lease = 30 * time.Second
	}
	if o.MaxRetry <= 0 {
		o.MaxRetry = 10
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{baskets: baskets, sched: newScheduler(rdb, o.MaxRetry, o.Replication, o.Prefix), opts: o}
}

// Run dispatches until ctx ends. While Redis fails it backs off (up to
// 5 s) and logs the first failure and the recovery, not every poll.
func (d *Dispatcher) Run(ctx context.Context) {
	wait, failing := d.opts.Poll, false
	for ctx.Err() == nil {
		n, err := d.Once(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				d.opts.Logger.WarnContext(ctx, "cannot dispatch due reminders; retrying", "error", mail.Describe(err))
			}
			failing, wait = true, min(2*wait, 5*time.Second)
		case err == nil:
			if failing {
				d.opts.Logger.InfoContext(ctx, "dispatching due reminders again")
			}
			failing, wait = false, d.opts.Poll
			if n == d.opts.Batch {
				continue // more may be due
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// Once queues what is due now and returns how many it took.
func (d *Dispatcher) Once(ctx context.Context) (int, error) {
	due, err := d.baskets.TakeDue(ctx, d.opts.Now(), d.opts.Batch, d.opts.Lease)
	if err != nil || len(due) == 0 {
		return len(due), err
	}
	queued := make([]string, 0, len(due))
	for rest := due; len(rest) > 0; {
		chunk := rest[:min(len(rest), d.opts.PerTask)]
		rest = rest[len(chunk):]
		if len(chunk) == 1 {
			err = d.sched.enqueue(ctx, chunk[0])
		} else {
			err = d.sched.enqueueBatch(ctx, chunk)
		}
		if err != nil {
			break // the rest fall due again when their lease ends
		}
		for _, r := range chunk {
			queued = append(queued, r.Task)
		}
	}
	if derr := d.baskets.Dispatched(context.WithoutCancel(ctx), queued...); err == nil {
		err = derr
	}
	return len(due), err
}
