package worker

import (
	"context"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/replication"
	"github.com/basketassist/basketassist/secrets"
	"github.com/basketassist/basketassist/suppression"
)

// Subjects serves data-subject requests: erase or export what is held about
// one person, across storefronts.
type Subjects struct {
	baskets      *basket.Store
	suppressions *suppression.Store
	sched        *scheduler
	log          *slog.Logger
}

// NewSubjects returns Subjects working on rdb's queues; log may be nil.
func NewSubjects(rdb redis.UniversalClient, baskets *basket.Store, suppressions *suppression.Store, log *slog.Logger) *Subjects {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Subjects{baskets: baskets, suppressions: suppressions, log: log,
		sched: newScheduler(rdb, 0, replication.Wait{}, "")} // it deletes tasks, never queues one
}

// Forget erases the person's baskets, step claims (how often they were
// emailed) and pending reminders. Their suppression entries stay, as keyed
// hashes only: an opt-out has to outlive the data, or the next basket would
// email someone who said no.
func (s *Subjects) Forget(ctx context.Context, r secrets.Recipient) (basket.ForgetReport, error) {
	rep := basket.ForgetReport{RemindersByState: map[string]int{}}
	n, tasks, err := s.baskets.Forget(ctx, r)
	rep.Baskets = n
	if err != nil {
		return rep, err
	}
	waiting, err := s.baskets.Unschedule(ctx, tasks)
	if err != nil {
		return rep, err
	}
	rep.RemindersByState["scheduled"] += len(waiting)
	rep.RemindersCancelled += len(waiting)
	queued := tasks[:0:0]
	for _, id := range tasks {
		if !waiting[id] {
			queued = append(queued, id)
		}
	}
	states, err := s.sched.states(ctx, queued)
	if err != nil {
		return rep, err
	}
	for id, state := range states {
		if state == "active" {
			rep.RemindersRunning++ // it finds the basket gone and drops
			continue
		}
		if err := s.sched.cancel(id); err != nil {
			return rep, err
		}
		rep.RemindersByState[state]++
		rep.RemindersCancelled++
	}
	// The soft-bounce streak is a record of sends: it goes; suppressions stay.
	if err := s.suppressions.ClearSoftBounces(ctx, r); err != nil {
		return rep, err
	}
	entries, err := s.suppressions.Entries(ctx, r)
	if err != nil {
		return rep, err
	}
	rep.SuppressionsKept = len(entries)
	s.log.InfoContext(ctx, "subject forgotten", "recipient", r.String(), "baskets", rep.Baskets,
		"reminders_cancelled", rep.RemindersCancelled, "reminders_by_state", rep.RemindersByState, "reminders_running", rep.RemindersRunning, "suppressions_kept", rep.SuppressionsKept)
	return rep, nil
}

// Export returns what is held about the person, customer fields opened.
func (s *Subjects) Export(ctx context.Context, r secrets.Recipient) (basket.SubjectExport, error) {
	out := basket.SubjectExport{Recipient: r.String(), Baskets: []basket.Record{}}
	var err error
	if out.Baskets, err = s.baskets.Export(ctx, r); err != nil {
		return out, err
	}
	if out.Baskets == nil {
		out.Baskets = []basket.Record{}
	}
	if out.Suppressions, err = s.suppressions.Entries(ctx, r); err != nil {
		return out, err
	}
	s.log.InfoContext(ctx, "subject exported", "recipient", r.String(), "baskets", len(out.Baskets))
	return out, nil
}
