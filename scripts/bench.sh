#!/usr/bin/env bash
# Measures basketassist next to the engines it is built on (internal/bench):
# one throwaway redis-server, one in-process go-smtp sink, ours and the
# baseline alternating in pairs. Installs redis-server (Debian package,
# with redis-benchmark) when missing. Run it alone: it saturates two cores.
#
#   scripts/bench.sh              about a minute: 10k and 100k pending baskets
#   scripts/bench.sh --full       also 1M pending baskets (Redis needs ~3 GB)
#   scripts/bench.sh --pairs 5    more pairs per throughput figure
#   scripts/bench.sh --micro      also the go test -bench micro-benchmarks
#   scripts/bench.sh --only send --cpuprofile /tmp/send.pprof   one figure; profile the service sending
#   scripts/bench.sh --only send --connections 8   both sides of the send figure over 8 SMTP connections
#   scripts/bench.sh --only send --scripts   Redis's time per reminder by script (SLOWLOG; slows those sends)
#
# The last line is RATIOS …; BENCHMARKS.md holds the figures of real runs.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/redis.sh
if ! command -v redis-benchmark >/dev/null; then
  echo "bench.sh: installing redis-tools (Debian package, for redis-benchmark)" >&2
  install_pkg redis-tools
fi
args=() micro=""
while [ $# -gt 0 ]; do
  case "$1" in
    --full) args+=(-full) ;;
    --pairs) args+=(-pairs "$2"); shift ;;
    --micro) micro=1 ;;
    --only|--cpuprofile|--connections) args+=("-${1#--}" "$2"); shift ;;
    --scripts) args+=(-scripts) ;;
    *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
start_redis
bin=$(mktemp -d)
trap 'stop_redis; rm -rf "$bin"' EXIT
go build -o "$bin/basketassist" ./cmd/basketassist
go build -o "$bin/bench" ./internal/bench
if [ -n "$micro" ]; then
  go test -run '^$' -bench . -benchtime 1s ./templates ./mail ./secrets ./suppression ./basket | grep -E '^(Benchmark|ok|PASS)' >&2
fi
"$bin/bench" -bin "$bin/basketassist" -redis "$REDIS_ADDR" "${args[@]}"
