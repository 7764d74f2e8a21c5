package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/basketassist/basketassist/suppression"
)

// suppressActions are suppress's actions.
var suppressActions = []string{"add", "remove", "check", "list", "import", "export"}

// wantActions names suppressActions for an error: "add, …, import or export".
func wantActions() string {
	n := len(suppressActions)
	return strings.Join(suppressActions[:n-1], ", ") + " or " + suppressActions[n-1]
}

// runSuppress manages the suppression list, one of suppressActions.
func runSuppress(ctx context.Context, configPath string, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("suppress: want %s", wantActions())
	}
	action := args[0]
	if !slices.Contains(suppressActions, action) {
		// Named before the config is read or Redis reached: the mistake is the command line's.
		return fmt.Errorf("suppress: unknown action %q (want %s)", action, wantActions())
	}
	fs := commandFlags("suppress "+action, &configPath, stderr)
	email := fs.String("email", "", "the address, or its hash as list prints it: hmac-sha256:<hex> (add, remove, check)")
	scopeName := fs.String("scope", "", "basket_assistance, newsletter or all (add/remove/check default: basket_assistance; list/export: any)")
	storefront := fs.String("storefront", "", `storefront id; empty for every storefront (list/export: "*" for global entries only)`)
	reasonName := fs.String("reason", string(suppression.Manual), suppression.ReasonNames()+" (remove without --email: the reason to remove in bulk)")
	sinceText := fs.String("since", "", "remove in bulk: only entries created at or after this RFC 3339 time")
	dryRun := fs.Bool("dry-run", false, "remove in bulk: count what would be removed, remove nothing")
	files := 0 // import and export read or write one FILE
	if action == "import" || action == "export" {
		files = 1
	}
	if err := parseArgs(fs, args[1:], stdout, files, "FILE"); err != nil {
		return err
	}
	reasonSet := false
	fs.Visit(func(f *flag.Flag) { reasonSet = reasonSet || f.Name == "reason" })
	var scope suppression.Scope
	if *scopeName != "" {
		var err error
		if scope, err = suppression.ParseScope(*scopeName); err != nil {
			return fmt.Errorf("--scope: %w", err)
		}
	}
	c, _, err := openServerRedis(ctx, configPath, stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	known := func(id string) bool { _, ok := c.storefronts[id]; return ok }
	if *storefront != "" && *storefront != "*" && !known(*storefront) {
		return fmt.Errorf("--storefront: unknown storefront %q", *storefront)
	}

	switch action {
	case "list", "export":
		f := suppression.Filter{Scope: scope, Storefront: *storefront}
		if action == "export" {
			return exportSuppressions(ctx, c, f, fs.Arg(0), stdout, stderr)
		}
		return listSuppressions(ctx, c, f, stdout)
	case "import":
		return importSuppressions(ctx, c, fs.Arg(0), stdin, stdout, stderr)
	}

	if action == "remove" && *email == "" {
		return removeInBulk(ctx, c, *reasonName, reasonSet, *sinceText, scope, *storefront, *dryRun, stdout)
	}
	if *sinceText != "" || *dryRun {
		return errors.New("--since and --dry-run: only for remove in bulk (without --email)")
	}
	rcpt, err := suppression.ParseRecipient(c.keys, *email)
	if err != nil {
		return fmt.Errorf("--email: %w", err)
	}
	if scope == "" {
		scope = suppression.BasketAssistance
	}
	reason, err := suppression.ParseReason(*reasonName)
	if err != nil {
		return fmt.Errorf("--reason: %w", err)
	}
	if *storefront == "*" {
		*storefront = ""
	}
	where := "every storefront"
	if *storefront != "" {
		where = "storefront " + *storefront
	}
	switch action {
	case "add":
		added, err := c.suppressions.Add(ctx, suppression.Entry{Recipient: rcpt, Scope: scope, Storefront: *storefront,
			Reason: reason, Origin: suppression.Operator})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added=%t scope=%s for %s (recipient %s)\n", added, scope, where, rcpt)
	case "remove":
		removed, err := c.suppressions.Remove(ctx, rcpt, *storefront, scope, suppression.Operator)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed=%t scope=%s for %s (recipient %s)\n", removed, scope, where, rcpt)
	case "check":
		blocked, e, err := c.suppressions.Check(ctx, rcpt, *storefront, scope)
		if err != nil {
			return err
		}
		if !blocked {
			fmt.Fprintf(stdout, "suppressed=false scope=%s for %s\n", scope, where)
			return nil
		}
		fmt.Fprintf(stdout, "suppressed=true scope=%s for %s (by %s/%s, reason %s, origin %s, since %s)\n",
			scope, where, orStar(e.Storefront), e.Scope, e.Reason, e.Origin, e.CreatedAt.Format(time.RFC3339))
	}
	return nil
}

// removeInBulk undoes a wave of suppressions: every entry of one reason
// (optionally since a time, of one scope, for one storefront or "*" for
// global ones). The reason must be given: no accident removes everything.
func removeInBulk(ctx context.Context, c *core, reasonName string, reasonSet bool, sinceText string,
	scope suppression.Scope, storefront string, dryRun bool, stdout io.Writer) error {
	if !reasonSet {
		return errors.New("--email: is required, or remove in bulk with --reason R [--since TIME] [--scope S] [--storefront ID|*] [--dry-run]")
	}
	reason, err := suppression.ParseReason(reasonName)
	if err != nil {
		return fmt.Errorf("--reason: %w", err)
	}
	f := suppression.Filter{Scope: scope, Storefront: storefront, Reason: reason}
	if sinceText != "" {
		if f.Since, err = time.Parse(time.RFC3339, sinceText); err != nil {
			return fmt.Errorf("--since: must be an RFC 3339 time like 2026-11-24T10:00:00Z, got %q", sinceText)
		}
	}
	n, err := c.suppressions.RemoveMatching(ctx, f, suppression.Operator, dryRun)
	if err != nil {
		return err
	}
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	fmt.Fprintf(stdout, "%s %s (reason %s, since %s, scope %s, storefront %s)\n", verb, count(n, "entry", "entries"), reason,
		orDash(sinceText), orDash(string(scope)), orDash(storefront))
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "any"
	}
	return s
}

func orStar(storefront string) string {
	if storefront == "" {
		return "*"
	}
	return storefront
}

func listSuppressions(ctx context.Context, c *core, f suppression.Filter, stdout io.Writer) error {
	// Recipients as --email takes them, and as export prints them.
	fmt.Fprintf(stdout, "%-76s  %-17s  %-12s  %-12s  %-9s  %s\n", "recipient", "scope", "storefront", "reason", "origin", "created_at")
	var cursor uint64
	n := 0
	for {
		entries, next, err := c.suppressions.List(ctx, cursor, 1000, f)
		if err != nil {
			return err
		}
		for _, e := range entries {
			fmt.Fprintf(stdout, "%-76s  %-17s  %-12s  %-12s  %-9s  %s\n", suppression.HashPrefix+e.Recipient.String(), e.Scope, orStar(e.Storefront),
				e.Reason, e.Origin, e.CreatedAt.UTC().Format(time.RFC3339))
			n++
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	fmt.Fprintf(stdout, "%s (addresses are not stored: recipients are keyed hashes)\n", count(n, "entry", "entries"))
	return nil
}

func exportSuppressions(ctx context.Context, c *core, f suppression.Filter, dest string, stdout, stderr io.Writer) error {
	w := stdout
	if dest != "" && dest != "-" {
		file, err := os.Create(dest)
		if err != nil {
			return err
		}
		defer file.Close()
		w = file
	}
	n, err := c.suppressions.ExportCSV(ctx, w, f)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "exported %s. Addresses are not stored, so they cannot be exported: the email column holds each recipient's keyed hash (%s<hex>), which import accepts for a deployment with the same secrets.key.\n", count(n, "entry", "entries"), suppression.HashPrefix)
	return nil
}

func importSuppressions(ctx context.Context, c *core, src string, stdin io.Reader, stdout, stderr io.Writer) error {
	in := stdin
	if src != "" && src != "-" {
		f, err := os.Open(src)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	start := time.Now()
	res, err := c.suppressions.ImportCSV(ctx, in, suppression.ImportOptions{Keys: c.keys, Problems: stderr,
		Storefronts: func(id string) bool { _, ok := c.storefronts[id]; return ok }})
	took := time.Since(start)
	if err != nil && res.Rows == 0 {
		return err // refused before any row (the header): there is nothing to sum up
	}
	fmt.Fprintf(stdout, "imported %d rows in %s: %d added, %d already present, %d bad\n", res.Rows, took.Round(time.Millisecond), res.Added, res.Kept, res.Bad)
	if err != nil {
		return err
	}
	if res.Bad > 0 {
		return fmt.Errorf("%d bad rows were skipped (see above); the good rows were imported", res.Bad)
	}
	return nil
}
