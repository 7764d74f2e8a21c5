#!/usr/bin/env bash
# Runs every fuzz target for a while each (default 60 s; FUZZTIME=10s for less).
# scripts/test.sh runs their seed corpora as ordinary tests; this looks for new
# inputs. A failure leaves the input in the package's testdata/fuzz/ folder:
# commit it, and it becomes a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
time=${FUZZTIME:-60s}
targets=(
  "./basket FuzzDecodeEvent"
  "./basket FuzzDecodeBatch"
  "./suppression FuzzTokenDecode"
  "./suppression FuzzImportRow"
  "./bounce FuzzParse"
)
for t in "${targets[@]}"; do
  set -- $t
  echo "fuzz.sh: $2 ($1) for $time" >&2
  go test -run='^$' -fuzz="^$2\$" -fuzztime="$time" "$1"
done
