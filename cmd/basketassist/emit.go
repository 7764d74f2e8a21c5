package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/worker"
)

// runEmit queues events read from a file or stdin. Valid events are queued
// even when other lines are bad (nothing valid is lost); every bad line is
// reported by number and the exit status is then non-zero.
func runEmit(ctx context.Context, configPath string, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := commandFlags("emit", &configPath, stderr)
	if err := fs.Parse(args); err != nil {
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
	byStorefront := map[string][]basket.Event{}
	var order []string
	bad := 0
	for _, rec := range splitRecords(data) {
		e, err := v.Decode(rec.data)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", rec.where, err)
			bad++
			continue
		}
		if _, seen := byStorefront[e.Storefront]; !seen {
			order = append(order, e.Storefront)
		}
		byStorefront[e.Storefront] = append(byStorefront[e.Storefront], e)
	}
	producer := worker.NewProducer(c.asynqClient, c.keys)
	queued := 0
	for _, sf := range order {
		events := byStorefront[sf]
		for len(events) > 0 {
			n := min(len(events), 500)
			if err := producer.Submit(ctx, events[:n]); err != nil {
				return fmt.Errorf("queued %d events, then: %w", queued, err)
			}
			queued += n
			events = events[n:]
		}
	}
	fmt.Fprintf(stdout, "queued %d events\n", queued)
	if bad > 0 {
		return fmt.Errorf("%d invalid events were not queued (see above)", bad)
	}
	if queued == 0 {
		return errors.New("no events in the input")
	}
	return nil
}

type record struct {
	where string
	data  []byte
}

// splitRecords accepts one JSON event (possibly spread over many lines),
// {"events": [...]}, or JSON lines (one event per line).
func splitRecords(data []byte) []record {
	trimmed := bytes.TrimSpace(data)
	if json.Valid(trimmed) {
		var batch struct {
			Events []json.RawMessage `json:"events"`
		}
		if json.Unmarshal(trimmed, &batch) == nil && batch.Events != nil {
			out := make([]record, len(batch.Events))
			for i, e := range batch.Events {
				out[i] = record{where: fmt.Sprintf("events[%d]", i), data: e}
			}
			return out
		}
		return []record{{where: "line 1", data: trimmed}}
	}
	var out []record
	for i, line := range bytes.Split(data, []byte("\n")) {
		if line = bytes.TrimSpace(line); len(line) > 0 {
			out = append(out, record{where: fmt.Sprintf("line %d", i+1), data: line})
		}
	}
	return out
}
