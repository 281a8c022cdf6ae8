#!/usr/bin/env bash
# Runs every Go fuzz target of the repository, one after the other, for a fixed time each,
# and reports per target the executions, the new corpus entries and the findings.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS is the fuzzing time per target (default 60, or $FUZZ_SECONDS). TARGETs restrict
# the run to fuzz functions with these names (e.g. FuzzReadNPY) or to packages (e.g.
# ./internal/table); without them every target runs. Targets are discovered, not listed:
# every "func FuzzXxx(f *testing.F)" in a *_test.go file outside testdata, so targets added
# later (such as internal/checkpoint's FuzzLoad and FuzzDecode) run without editing this
# script. Each target runs as
#
#   go test -run '^$' -fuzz '^FuzzXxx$' -fuzztime SECONDSs -fuzzminimizetime 5s ./pkg
#
# The minimisation time is bounded because Go minimises every new interesting input for up
# to 60 s by default, and while it does no execution is counted: with the default a 60 s run
# of the WAV target spent 57 s minimising and executed 5733 inputs; with 5 s it executes
# hundreds of thousands.
#
# A finding is a failing input: Go writes it to ./pkg/testdata/fuzz/FuzzXxx/<hash>, where it
# stays as a regression input that plain `go test` runs from then on (give it a telling name
# and commit it with the fix). The full output of each target is kept in $FUZZ_LOG_DIR
# (default: a new temporary directory, printed at the end).
#
# Environment: FUZZ_SECONDS (default 60), FUZZ_MINIMIZE (-fuzzminimizetime, default 5s),
# FUZZ_PARALLEL (go test -parallel: the number of fuzzing workers; default GOMAXPROCS),
# FUZZ_LOG_DIR. Exit status: 0 when no target found
# anything, 1 when one did (or failed to run), 2 on a usage error.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

seconds=${FUZZ_SECONDS:-60}
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
if ! [[ $seconds =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "fuzz.sh: SECONDS must be a whole number >= 1, got '$seconds' (usage: scripts/fuzz.sh [SECONDS] [TARGET...])" >&2
  exit 2
fi
filters=("$@")
minimize=${FUZZ_MINIMIZE:-5s}
logdir=${FUZZ_LOG_DIR:-$(mktemp -d -t dmrnet-fuzz.XXXXXX)}
mkdir -p "$logdir"
parallel=()
if [ -n "${FUZZ_PARALLEL:-}" ]; then parallel=(-parallel "$FUZZ_PARALLEL"); fi

# Discover "package-dir target" pairs, sorted. The header line printed while a target runs
# is completed by its result.
mapfile -t targets < <(
  grep -rEo --include='*_test.go' --exclude-dir=testdata --exclude-dir=vendor --exclude-dir=.git \
    '^func Fuzz[A-Za-z0-9_]*\([A-Za-z_][A-Za-z0-9_]* \*testing\.F\)' . |
    sed -E 's#^(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*#\1 \2#' | sort -u
)
selected=()
for t in "${targets[@]}"; do
  pkg=${t% *} name=${t#* }
  if [ ${#filters[@]} -eq 0 ]; then
    selected+=("$t")
    continue
  fi
  for f in "${filters[@]}"; do
    if [ "$f" = "$name" ] || [ "${f%/}" = "$pkg" ] || [ "./${f%/}" = "$pkg" ]; then
      selected+=("$t")
      break
    fi
  done
done
if [ ${#selected[@]} -eq 0 ]; then
  echo "fuzz.sh: no fuzz target matches ${filters[*]:-anything} (targets: ${targets[*]:-none})" >&2
  exit 2
fi

echo "fuzzing ${#selected[@]} targets for ${seconds}s each, minimising for up to $minimize ($(go version | cut -d' ' -f3), GOMAXPROCS ${GOMAXPROCS:-$(nproc)}); logs in $logdir"
results=()
failed=0
for t in "${selected[@]}"; do
  pkg=${t% *} name=${t#* }
  log="$logdir/$(echo "${pkg#./}" | tr / _)-$name.log"
  printf '%-26s %-30s ' "$pkg" "$name"
  status=0
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "${seconds}s" -fuzzminimizetime "$minimize" ${parallel[@]+"${parallel[@]}"} "$pkg" >"$log" 2>&1 || status=$?
  # The last progress line holds the totals: "fuzz: elapsed: 1m0s, execs: 77549 (...), new interesting: 71 (total: 98)".
  execs=$(grep -Eo 'execs: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+' || true)
  newc=$(grep -Eo 'new interesting: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+' || true)
  finding=$(grep -Eo 'Failing input written to [^ ]+' "$log" | tail -1 | sed 's/Failing input written to //' || true)
  if [ "$status" -eq 0 ]; then
    outcome="ok"
  elif [ -n "$finding" ]; then
    outcome="FINDING $pkg/$finding (rerun: go test -run '^$name/${finding##*/}\$' $pkg)"
    failed=1
  else
    outcome="FAILED (exit $status, see $log)"
    failed=1
  fi
  printf '%12s %8s  %s\n' "${execs:--}" "${newc:--}" "$outcome"
  results+=("$(printf '%-26s %-30s %12s %8s  %s' "$pkg" "$name" "${execs:--}" "${newc:--}" "$outcome")")
done

echo
printf '%-26s %-30s %12s %8s  %s\n' package target execs new result
for r in "${results[@]}"; do echo "$r"; done
echo "logs: $logdir"
if [ "$failed" -ne 0 ]; then
  echo "fuzz.sh: some targets found failing inputs or did not run (see above)" >&2
fi
exit "$failed"
