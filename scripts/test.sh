#!/usr/bin/env bash
# Runs the whole test suite against a throwaway redis-server on a free port.
# Installs what is missing (Debian: redis-server, spamassassin, chromium) so
# that a fresh machine needs nothing but Go. Extra arguments go to `go test`
# (e.g. -run TestX -v).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/redis.sh

start_redis
echo "test.sh: redis-server $(redis-server --version | awk '{print $3}') on $REDIS_ADDR" >&2

# SpamAssassin scores the built-in templates; Chromium runs the browser tests.
# If one cannot be installed, its tests skip, saying why; the rest still run.
if ! command -v spamassassin >/dev/null; then
  echo "test.sh: installing spamassassin (Debian package) for the template score test" >&2
  install_pkg spamassassin || echo "test.sh: spamassassin could not be installed; its test will skip" >&2
fi
if ! command -v chromium >/dev/null; then
  echo "test.sh: installing chromium (Debian package) for the browser tests" >&2
  install_pkg chromium || echo "test.sh: chromium could not be installed; browser tests will skip" >&2
fi

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "test.sh: gofmt needed on: $unformatted" >&2; exit 1; fi
go vet ./...
go test -race -count=1 -timeout 8m "$@" ./...

# The fault suite's quick scenario: real worker processes killed mid-send and
# SMTP failures, checked for duplicates, losses and leaks (the whole suite:
# scripts/chaos.sh). Skipped when a subset of tests was asked for.
if [ $# -eq 0 ]; then
  scripts/chaos.sh --short
fi
