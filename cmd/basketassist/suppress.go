package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/mail"

	"github.com/basketassist/basketassist/suppression"
)

// runSuppress manages the suppression list: add, remove, check.
func runSuppress(ctx context.Context, configPath string, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("suppress: want add, remove or check")
	}
	action := args[0]
	fs := commandFlags("suppress "+action, &configPath, stderr)
	email := fs.String("email", "", "the address")
	scopeName := fs.String("scope", string(suppression.BasketAssistance), "basket_assistance, newsletter or all")
	storefront := fs.String("storefront", "", "storefront id; empty for every storefront")
	reasonName := fs.String("reason", string(suppression.Manual), "unsubscribed, hard_bounce, complaint or manual")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if a, err := mail.ParseAddress(*email); err != nil || a.Address != *email {
		return errors.New("--email: is required and must be a bare address like ann@example.com")
	}
	scope, err := suppression.ParseScope(*scopeName)
	if err != nil {
		return fmt.Errorf("--scope: %w", err)
	}
	reason, err := suppression.ParseReason(*reasonName)
	if err != nil {
		return fmt.Errorf("--reason: %w", err)
	}
	cfg, err := loadConfig(configPath)
	if err != nil {
		return err
	}
	if cfg.Redis.Addr == "" {
		return errors.New("redis.addr: is empty; this command needs the Redis that the server uses (with the embedded dev Redis, use the HTTP API instead)")
	}
	c, err := openCore(ctx, cfg, newLogger(cfg.Log, stderr))
	if err != nil {
		return err
	}
	defer c.Close()
	if _, ok := c.storefronts[*storefront]; *storefront != "" && !ok {
		return fmt.Errorf("--storefront: unknown storefront %q", *storefront)
	}
	rcpt := c.keys.Recipient(*email)
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
		by := e.Storefront
		if by == "" {
			by = "*"
		}
		fmt.Fprintf(stdout, "suppressed=true scope=%s for %s (by %s/%s, reason %s, origin %s, since %s)\n",
			scope, where, by, e.Scope, e.Reason, e.Origin, e.CreatedAt.Format("2006-01-02T15:04:05Z"))
	default:
		return fmt.Errorf("suppress: unknown action %q (want add, remove or check)", action)
	}
	return nil
}
