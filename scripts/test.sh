#!/usr/bin/env bash
# Runs the whole test suite against a throwaway redis-server on a free port.
# Installs what is missing (redis-server from Debian) so that a fresh machine
# needs nothing but Go. Extra arguments go to `go test` (e.g. -run TestX).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=""
install_pkg() {
  [ -n "$apt_updated" ] || { as_root apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  echo "test.sh: installing redis-server (Debian package)" >&2
  install_pkg redis-server
fi
# SpamAssassin scores the built-in templates. If it cannot be installed that
# test skips, saying why.
if ! command -v spamassassin >/dev/null; then
  echo "test.sh: installing spamassassin (Debian package) for the template score test" >&2
  install_pkg spamassassin || echo "test.sh: spamassassin could not be installed; its test will skip" >&2
fi
# Headless Chromium for the browser tests. If it cannot be installed they
# skip, saying why; everything else still runs.
if ! command -v chromium >/dev/null; then
  echo "test.sh: installing chromium (Debian package) for the browser tests" >&2
  install_pkg chromium || echo "test.sh: chromium could not be installed; browser tests will skip" >&2
fi

workdir=$(mktemp -d)
redis_pid=""
cleanup() {
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
  rm -rf "$workdir"
}
trap cleanup EXIT

# Pick a free port: try random high ports until a redis-server binds one.
for _ in $(seq 1 20); do
  port=$(( 20000 + RANDOM % 40000 ))
  redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --databases 2048 \
    --dir "$workdir" --logfile "$workdir/redis.log" &
  redis_pid=$!
  for _ in $(seq 1 50); do
    if redis-cli -p "$port" ping >/dev/null 2>&1; then break 2; fi
    if ! kill -0 "$redis_pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; redis_pid=""
done
if [ -z "$redis_pid" ]; then echo "test.sh: could not start redis-server" >&2; exit 1; fi
export REDIS_ADDR="127.0.0.1:$port"
echo "test.sh: redis-server $(redis-server --version | awk '{print $3}') on $REDIS_ADDR" >&2

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "test.sh: gofmt needed on: $unformatted" >&2; exit 1; fi
go vet ./...
go test -race -count=1 -timeout 8m "$@" ./...
