// Package worker applies storefront events to basket state and sends
// reminder emails, as asynq task handlers.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/replication"
	"github.com/basketassist/basketassist/secrets"
)

// Queue names. Events are applied before reminders are sent, so the events
// queue has the higher priority.
const (
	QueueEvents = "events"
	QueueEmail  = "email"
)

// Task types, as asynqmon shows them.
const (
	TypeApplyEvents  = "events:apply"
	TypeSendReminder = "reminder:send"
	// TypeSendReminders is a dispatcher's batch of due reminders; one that
	// does not end in its batch continues as a reminder:send task.
	TypeSendReminders = "reminders:send"
)

// applyPayload is one ingest request: events of one storefront, customers sealed.
type applyPayload struct {
	Storefront string          `json:"storefront"`
	Events     []basket.Sealed `json:"events"`
}

// reminderPayload names one step of one basket version. It carries no
// personal data: the basket is reloaded at send time.
type reminderPayload struct {
	Storefront string    `json:"storefront"`
	BasketID   string    `json:"basket_id"`
	Step       int       `json:"step"`
	Version    int64     `json:"version"`
	Due        time.Time `json:"due"` // never sent before this instant
	// Tried counts the attempts made before this task's first: 1 for a
	// reminder that failed in its batch and goes on alone (continueAlone),
	// so that the last attempt's log says how many there were in all.
	Tried int `json:"tried,omitempty"`
}

// remindersPayload is a batch of due reminders, sent in one task.
type remindersPayload struct {
	Reminders []reminderPayload `json:"reminders"`
}

// Producer puts validated events on the events queue.
type Producer struct {
	client *asynq.Client
	keys   *secrets.Keys
	opts   ProducerOptions
}

// ProducerOptions configures a Producer. The zero value confirms nothing
// beyond Redis's own reply.
type ProducerOptions struct {
	// Replication, when it asks for replicas, holds each submission until
	// enough have it (Redis WAIT, through Redis), so that an accepted
	// request survives a failover; Prefix is redis.prefix, for the key
	// it writes to confirm it.
	Replication replication.Wait
	Redis       redis.UniversalClient
	Prefix      string
}

// NewProducer returns a Producer enqueueing with client and sealing with keys.
func NewProducer(client *asynq.Client, keys *secrets.Keys, o ProducerOptions) *Producer {
	return &Producer{client: client, keys: keys, opts: o}
}

// Submit seals the customers of events and enqueues them as one task, so a
// request is either wholly accepted or not at all (one Redis round trip;
// two when replicas must confirm it). events must be validated and belong
// to one storefront. After an error the request may still have been
// queued: a retry is safe, events being applied once by id.
func (p *Producer) Submit(ctx context.Context, events []basket.Event) error {
	if len(events) == 0 {
		return nil
	}
	pl := applyPayload{Storefront: events[0].Storefront, Events: make([]basket.Sealed, 0, len(events))}
	for _, e := range events {
		if e.Storefront != pl.Storefront {
			return errors.New("worker: one submission must hold events of one storefront")
		}
		s, err := basket.Seal(p.keys, e)
		if err != nil {
			return err
		}
		pl.Events = append(pl.Events, s)
	}
	b, err := json.Marshal(pl)
	if err != nil {
		return fmt.Errorf("encode events: %w", err)
	}
	err = p.opts.Replication.Confirm(ctx, p.opts.Redis, fenceKey(p.opts.Prefix, QueueEvents), func() error {
		_, err := p.client.EnqueueContext(ctx, asynq.NewTask(TypeApplyEvents, b),
			asynq.Queue(QueueEvents), asynq.MaxRetry(25), asynq.Timeout(time.Minute))
		return err
	})
	if err != nil {
		return fmt.Errorf("enqueue %d events of %s: %w", len(events), pl.Storefront, err)
	}
	return nil
}
