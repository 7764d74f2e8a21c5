package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

// runHealthcheck probes /healthz, for container healthchecks in images
// without a shell or curl (distroless).
func runHealthcheck(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("basketassist healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8080/healthz", "the health URL")
	if err := parseArgs(fs, args, stdout, 0, ""); err != nil {
		return err
	}
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(*url)
	if err != nil {
		return fmt.Errorf("healthcheck: %s unreachable", *url)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d", *url, resp.StatusCode)
	}
	return nil
}
