package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/worker"
)

// runExplain prints a basket's explanation: what support reads when a
// customer asks why they did (not) get an email.
func runExplain(ctx context.Context, configPath string, args []string, stdout, stderr io.Writer) error {
	fs := commandFlags("explain", &configPath, stderr)
	sf := fs.String("storefront", "", "storefront id")
	id := fs.String("basket", "", "basket id")
	asJSON := fs.Bool("json", false, "print JSON, as GET /v1/baskets/{storefront}/{basket_id} returns it")
	if err := parseArgs(fs, args, stdout, 0, ""); err != nil {
		return err
	}
	if *sf == "" || *id == "" {
		return errors.New("--storefront and --basket: both are required")
	}
	c, _, err := openServerRedis(ctx, configPath, stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, ok := c.storefronts[*sf]; !ok {
		return fmt.Errorf("--storefront: no storefront %q is configured", *sf)
	}
	ex, err := worker.NewExplainer(c.rdb, c.baskets).Explain(ctx, *sf, *id)
	if errors.Is(err, basket.ErrNoBasket) {
		return fmt.Errorf("--basket: no basket %q at %s (never seen, expired or forgotten)", *id, *sf)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(ex)
	}
	printExplanation(stdout, ex)
	return nil
}

func printExplanation(w io.Writer, ex basket.Explanation) {
	fmt.Fprintf(w, "basket %s/%s: %s, version %d\n", ex.Storefront, ex.BasketID, ex.Status, ex.Version)
	switch {
	case ex.Task != nil && ex.NextDue != nil:
		fmt.Fprintf(w, "next reminder: %s, due %s\n", *ex.Task, ex.NextDue.Format(time.RFC3339))
	case ex.Task != nil && ex.TaskState == "archived":
		fmt.Fprintf(w, "next reminder: %s archived after failing (asynqmon: email, Archived, Run tries it again)\n", *ex.Task)
	case ex.Task != nil && ex.TaskState == "active":
		fmt.Fprintf(w, "next reminder: %s running now\n", *ex.Task)
	case ex.Task != nil:
		fmt.Fprintf(w, "next reminder: %s (running now, or no longer queued)\n", *ex.Task)
	default:
		fmt.Fprintln(w, "next reminder: none")
	}
	if len(ex.Decisions) == 0 {
		fmt.Fprintln(w, "decisions: none yet")
		return
	}
	fmt.Fprintln(w, "decisions, oldest first (times UTC):")
	for _, d := range ex.Decisions {
		line := fmt.Sprintf("  %s  step %d  %-10s", d.At.Format(time.RFC3339), d.Step, d.Outcome)
		if d.Reason != "" {
			line += "  " + string(d.Reason)
		}
		if d.Until != nil {
			line += "  until " + d.Until.Format(time.RFC3339)
		}
		fmt.Fprintln(w, line)
	}
}
