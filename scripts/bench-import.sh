#!/usr/bin/env bash
# Times `basketassist suppress import` of ROWS rows (default 1,000,000) into a
# throwaway redis-server. The figure in the README comes from this script:
#   ./scripts/bench-import.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/redis.sh
rows=${1:-1000000}

start_redis
work=$(mktemp -d)
trap 'stop_redis; rm -rf "$work"' EXIT
go build -o "$work/basketassist" ./cmd/basketassist
cat > "$work/config.yaml" <<YAML
redis: {addr: "$REDIS_ADDR"}
secrets: {key: "$(head -c 32 /dev/urandom | base64)"}
storefronts:
  - {id: "pink", name: "Pink", from: "Pink <hello@pink.example>", api_key: "bench-api-key-0123456789",
     basket_url: "https://pink.example/b/{basket_id}", postal_address: "1 Example Street"}
YAML
awk -v n="$rows" 'BEGIN {
  print "email,scope,storefront,reason,origin,created_at"
  split("basket_assistance newsletter all", scopes, " ")
  for (i = 0; i < n; i++)
    printf "person%d@example.com,%s,%s,unsubscribed,recipient,2026-11-22T10:00:00Z\n", i, scopes[i % 3 + 1], (i % 2 ? "pink" : "")
}' > "$work/suppressions.csv"
echo "bench-import: $(wc -l < "$work/suppressions.csv") lines, $(du -h "$work/suppressions.csv" | cut -f1), redis on $REDIS_ADDR, $(nproc) cores" >&2
TIMEFORMAT="bench-import: %R s wall, %U s user, %S s system"
time "$work/basketassist" --config "$work/config.yaml" suppress import "$work/suppressions.csv" 2>/dev/null
echo "bench-import: redis now holds $(redis-cli -p "${REDIS_ADDR##*:}" dbsize) recipient keys, $(redis-cli -p "${REDIS_ADDR##*:}" info memory | grep '^used_memory_human' | cut -d: -f2 | tr -d '\r') used" >&2
