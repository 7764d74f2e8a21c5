#!/usr/bin/env bash
# Runs the fault scenarios of internal/chaos against real processes: a
# redis-server with an append-only file, one `basketassist web` and three
# `basketassist worker` processes, and an SMTP sink on loopback. Installs
# redis-server (Debian package) when missing. Exit status 1 on any broken
# promise. Run it alone: it saturates two cores.
#
#   scripts/chaos.sh                      all scenarios (about 7 minutes)
#   scripts/chaos.sh --short              one quick mixed scenario (scripts/test.sh runs it)
#   scripts/chaos.sh --scenario failover  one of kill-workers, kill-redis, smtp-faults, failover
#   scripts/chaos.sh --seed 42 --keep     replay a run and keep its logs
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/redis.sh
if ! command -v redis-server >/dev/null; then
  echo "chaos.sh: installing redis-server (Debian package)" >&2
  install_pkg redis-server
fi
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/basketassist" ./cmd/basketassist
go build -o "$bin/chaos" ./internal/chaos
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --short) args+=(-short) ;;
    --scenario|--seed|--appendfsync) args+=("-${1#--}" "$2"); shift ;;
    --keep) args+=(-keep) ;;
    *) echo "chaos.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
"$bin/chaos" -bin "$bin/basketassist" "${args[@]}"
