package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/basketassist/basketassist/secrets"
	"github.com/basketassist/basketassist/worker"
)

// runSubject answers a data-subject request from the command line: forget
// (erase baskets, claims and pending reminders; keep suppressions) or
// export-subject (print what is held, as JSON).
func runSubject(ctx context.Context, cmd, configPath string, args []string, stdout, stderr io.Writer) error {
	fs := commandFlags(cmd, &configPath, stderr)
	email := fs.String("email", "", "the person's address")
	if err := parseArgs(fs, args, stdout, 0, ""); err != nil {
		return err
	}
	if secrets.CheckTypedAddress(*email) != nil {
		return errors.New("--email: is required and must be a bare address like ann@example.com")
	}
	c, log, err := openServerRedis(ctx, configPath, stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	subjects := worker.NewSubjects(c.rdb, c.baskets, c.suppressions, log)
	r := c.keys.Recipient(*email)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if cmd == "forget" {
		rep, err := subjects.Forget(ctx, r)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "forgot recipient %s; its suppression entries are kept (as hashes) so that an opt-out is still honoured\n", r)
		return enc.Encode(rep)
	}
	exp, err := subjects.Export(ctx, r)
	if err != nil {
		return err
	}
	return enc.Encode(exp)
}
