#!/usr/bin/env bash
# The long runs that make test keeps short. First the seeded property tests
# of the pure packages at their full count, without the race detector (under
# it they run fewer cases); then every fuzz target for FUZZTIME each.
# Usage: scripts/fuzz.sh, or make fuzz FUZZTIME=5m (default 1m)
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-1m}

go test -count=1 ./features/ ./rules/ ./normalize/ ./notify/ ./tables/

targets=$(grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r f; do
  sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$f" | sed "s|^|$(dirname "$f")/ |"
done)
echo "fuzz: $(echo "$targets" | wc -l) targets, $fuzztime each"
while read -r dir name; do
  echo "fuzz: $name in $dir"
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$dir"
done <<< "$targets"
