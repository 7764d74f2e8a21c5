// Command basketassist sends abandoned-basket assistance emails.
//
// Usage: basketassist [--config FILE] <command> [flags]. Run "basketassist help".
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	_ "time/tzdata" // customer time zones must resolve in minimal containers too
)

const usage = `basketassist sends abandoned-basket assistance emails.

Usage: basketassist [--config FILE] <command> [flags]

Commands:
  serve               run the worker and the web server in one process
  worker              run only the worker (applies events, sends reminders)
  web                 run only the web server (ingest API, unsubscribe pages)
  demo [--baskets N] [--exit] [--listen ADDR]
                      serve plus a storefront simulator; prints a summary that must reconcile
  emit [FILE|-]       queue events from a file or stdin (one JSON event, {"events":[...]} or JSON lines)
  preview [--storefront ID] [--locale L] [--step N] [--out FILE.html|FILE.eml]
  preview --gallery DIR
                      render reminders with sample data (a gallery: every storefront × locale × step)
  suppress add|remove|check --email ADDR [--scope S] [--storefront ID] [--reason R]
  suppress remove --reason R [--since TIME] [--scope S] [--storefront ID|*] [--dry-run]
                      remove in bulk: every entry of a reason (without --email)
  suppress list [--scope S] [--storefront ID|*]
  suppress import [FILE|-]      CSV: email,scope,storefront,reason,origin,created_at
  suppress export [--scope S] [--storefront ID|*] [FILE|-]
  forget --email ADDR erase a person's baskets, send history and pending reminders (suppressions are kept)
  export-subject --email ADDR
                      print what is held about a person, as JSON
  explain --storefront ID --basket ID [--json]
                      why a basket's reminders were (not) sent: its state, next reminder and decision record
  healthcheck [--url URL]
                      exit 0 if GET URL (default http://127.0.0.1:8080/healthz) answers 200: for container healthchecks
  version             print the version

Every config key can be set in the environment: redis.addr is BASKETASSIST_REDIS_ADDR.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if code := exitCode(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr), os.Stderr); code != 0 {
		os.Exit(code)
	}
}

// exitCode is the process's exit status after run returned err, which it
// prints. --help (of any command) asked for the usage, which is printed:
// that succeeds, as with the flag package's own ExitOnError.
func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "basketassist:", err)
	return 1
}

// run dispatches a command line. It returns when the command is done, or,
// for the long-running commands, when ctx is cancelled and shutdown finished.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	global := flag.NewFlagSet("basketassist", flag.ContinueOnError)
	global.SetOutput(stderr)
	global.Usage = func() { fmt.Fprint(global.Output(), usage) }
	configPath := global.String("config", "", "config file (YAML)")
	showVersion := global.Bool("version", false, "print the version (as the version command)")
	if err := parseFlags(global, args, stdout); err != nil {
		return err
	}
	args = global.Args()
	if *showVersion && len(args) == 0 {
		args = []string{"version"}
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "serve", "worker", "web":
		return runServer(ctx, cmd, *configPath, args, stdout, stderr)
	case "demo":
		return runDemo(ctx, *configPath, args, stdout, stderr)
	case "preview":
		return runPreview(*configPath, args, stdout, stderr)
	case "emit":
		return runEmit(ctx, *configPath, args, stdin, stdout, stderr)
	case "suppress":
		return runSuppress(ctx, *configPath, args, stdin, stdout, stderr)
	case "forget", "export-subject":
		return runSubject(ctx, cmd, *configPath, args, stdout, stderr)
	case "healthcheck":
		return runHealthcheck(args, stdout, stderr)
	case "explain":
		return runExplain(ctx, *configPath, args, stdout, stderr)
	case "version":
		if err := parseArgs(commandFlags(cmd, configPath, stderr), args, stdout, 0, ""); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "basketassist", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q (see basketassist help)", cmd)
}

// count writes n with its noun: "1 entry", "2 entries".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// parseArgs parses a command's flags (as parseFlags) and refuses more
// than most arguments after them (file: what the one it takes is): a stray
// word is a mistake to name, not to ignore.
func parseArgs(fs *flag.FlagSet, args []string, stdout io.Writer, most int, file string) error {
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() <= most {
		return nil
	}
	name := strings.TrimPrefix(fs.Name(), "basketassist ")
	if most == 0 {
		return fmt.Errorf("%s: unexpected argument %q (it takes flags only; see --help)", name, fs.Arg(0))
	}
	return fmt.Errorf("%s: unexpected argument %q (it takes one %s at most; see --help)", name, fs.Arg(most), file)
}

// parseFlags parses fs's flags. The usage goes to stdout when it was asked
// for (-h, --help: the answer, as "basketassist help" prints it); a mistake
// is one line, its error, pointing at --help.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	var printed bytes.Buffer
	errOut := fs.Output()
	fs.SetOutput(&printed)
	err := fs.Parse(args)
	fs.SetOutput(errOut)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		_, _ = printed.WriteTo(stdout)
		return err
	}
	if name := strings.TrimPrefix(fs.Name(), "basketassist"); name != "" {
		return fmt.Errorf("%s: %w (see --help)", strings.TrimSpace(name), err)
	}
	return fmt.Errorf("%w (see --help)", err)
}

// commandFlags returns a flag set for a subcommand that also accepts --config
// after the command name.
func commandFlags(name string, configPath *string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("basketassist "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(configPath, "config", *configPath, "config file (YAML)")
	return fs
}
