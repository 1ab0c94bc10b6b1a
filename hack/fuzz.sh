#!/usr/bin/env bash
# Runs every fuzz target of the module (each `func FuzzXxx` in a _test.go file), one after
# the other, for the budget given as the first argument (a -fuzztime: 20000x, 2000000x,
# 30s). Go fuzzes one target per `go test` run, so listing them here by hand would let a
# new target go unfuzzed. Targets of the internal step API need the PostgreSQL the tests
# use (they run about 1000 inputs a second; the others far faster).
set -euo pipefail
budget="${1:?usage: hack/fuzz.sh <fuzztime>}"
cd "$(dirname "$0")/.."
found=0
while IFS= read -r dir; do
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go | cut -d' ' -f2 | sort -u); do
    found=$((found + 1))
    # A target whose doc says "fuzz:scale N" (each input costs N times the usual) gets
    # 1/N of an execution-count budget.
    this="$budget"
    scale=$(grep -h -B3 "^func ${target}(" "$dir"/*_test.go | sed -n 's|^// fuzz:scale \([0-9][0-9]*\)$|\1|p' | head -n1)
    if [ -n "$scale" ] && [[ "$budget" =~ ^([0-9]+)x$ ]]; then
      this="$(( ${BASH_REMATCH[1]} / scale ))x"
    fi
    echo "==> fuzzing $target in ./$dir ($this)"
    go test -run='^$' -fuzz="^${target}\$" -fuzztime="$this" "./$dir"
  done
done < <(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sed 's|^\./||' | sort -u)
if [ "$found" -eq 0 ]; then
  echo "hack/fuzz.sh: no fuzz targets found" >&2
  exit 1
fi
