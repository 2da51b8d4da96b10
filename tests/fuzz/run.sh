#!/usr/bin/env bash
# Runs every fuzz target of the module (or of PKGS) for FUZZTIME each (make fuzz).
#
# A target fails only on a failing input: one go test writes under the package's testdata/fuzz/<target>, or one
# that fails when the target's corpus is replayed. Go 1.26's fuzz coordinator can also end a clean run with a bare
# "context deadline exceeded" as -fuzztime runs out (go.dev/issue/75804: it compares the deadline's error with
# its workers' context before the cancellation has reached them; fixed in Go 1.27). Such a run wrote no input, so it
# is told apart by replaying the corpus, which has no deadline to race, and reported as what it is.
set -uo pipefail

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-60s}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

for pkg in $($GO list ${PKGS:-./...}); do
  dir=$($GO list -f '{{.Dir}}' "$pkg")
  for f in $($GO test -list '^Fuzz' "$pkg" | grep '^Fuzz'); do
    echo "fuzz $pkg $f ($FUZZTIME)"
    before=$(ls "$dir/testdata/fuzz/$f" 2>/dev/null | sort)
    if $GO test -run '^$' -fuzz "^$f\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 100x "$pkg" 2>&1 | tee "$out"; then
      continue
    fi
    after=$(ls "$dir/testdata/fuzz/$f" 2>/dev/null | sort)
    if [ "$before" != "$after" ]; then
      echo "$f: a failing input, saved under $dir/testdata/fuzz/$f:"
      comm -13 <(echo "$before") <(echo "$after")
      exit 1
    fi
    if ! grep -qx '    context deadline exceeded' "$out"; then
      echo "$f: failed without saving an input (see above)"
      exit 1
    fi
    echo "$f: 'context deadline exceeded' with no input saved; replaying its corpus to tell a failure from Go's coordinator race"
    if ! $GO test -count=1 -run "^$f\$" "$pkg"; then
      echo "$f: its corpus fails when replayed"
      exit 1
    fi
    echo "$f: no failing input: the deadline race of go.dev/issue/75804, not a finding"
  done
done

new=$(git status --porcelain -- '*/testdata/fuzz/*')
if [ -n "$new" ]; then
  echo "new failing fuzz inputs:"
  echo "$new"
  exit 1
fi
