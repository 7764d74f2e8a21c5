package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/worker"
)

// runEmit queues events read from a file or stdin: one event, a batch as
// the HTTP API takes it, or JSON lines, decoded by the API's decoder. Valid events are queued
// even when other lines are bad (nothing valid is lost); every bad line is
// reported by number and the exit status is then non-zero.
func runEmit(ctx context.Context, configPath string, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := commandFlags("emit", &configPath, stderr)
	if err := parseArgs(fs, args, stdout, 1, "FILE"); err != nil {
		return err
	}
	in := stdin
	if src := fs.Arg(0); src != "" && src != "-" {
		f, err := os.Open(src)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	data, err := io.ReadAll(in)
	if err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	c, _, err := openServerRedis(ctx, configPath, stderr)
	if err != nil {
		return err
	}
	defer c.Close()

	v := basket.Validator{MaxAge: c.cfg.Retention.Basket, Storefronts: func(id string) bool { _, ok := c.storefronts[id]; return ok }}
	batch, err := v.DecodeBatch(data, basket.OneBatchOrLines)
	if err != nil {
		return err
	}
	for _, p := range batch.Problems {
		fmt.Fprintf(stderr, "%s: %v\n", batch.Where(p.Index), p)
	}
	byStorefront := map[string][]basket.Event{}
	var order []string
	for _, e := range batch.Events {
		if _, seen := byStorefront[e.Storefront]; !seen {
			order = append(order, e.Storefront)
		}
		byStorefront[e.Storefront] = append(byStorefront[e.Storefront], e)
	}
	producer := worker.NewProducer(c.asynqClient, c.keys, c.producerOptions())
	queued := 0
	for _, sf := range order {
		events := byStorefront[sf]
		for len(events) > 0 {
			n := min(len(events), basket.MaxBatch)
			if err := producer.Submit(ctx, events[:n]); err != nil {
				return fmt.Errorf("queued %s, then: %w", count(queued, "event", "events"), err)
			}
			queued += n
			events = events[n:]
		}
	}
	fmt.Fprintf(stdout, "queued %s\n", count(queued, "event", "events"))
	if bad := batch.Invalid(); bad > 0 {
		return fmt.Errorf("%s not queued (see above)", count(bad, "invalid event was", "invalid events were"))
	}
	if queued == 0 {
		return errors.New("no events in the input")
	}
	return nil
}
