#!/usr/bin/env bash
# Train the paper's ablations of a configuration: six variants x three seeds, each in its own
# run directory OUTROOT/<variant>/seed<k>.
#
#   scripts/ablations.sh CONFIG [OUTROOT]
#
# OUTROOT defaults to runs/ablations/<config name>. Re-running skips finished runs (those with
# final.ckpt) and resumes unfinished ones from their checkpoint. Environment:
#   VARIANTS  variants to run (default: dmrnet dmrnet-loss no-hcr no-kl deterministic no-dropout)
#   SEEDS     seeds (default: 0 1 2)
#   DMRNET    dmrnet binary to use (default: built from this checkout into a temp dir)
#   EXTRA     more --set flags for every run, e.g. EXTRA="--set train.epochs=5"
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  sed -n '2,13p' "$0" >&2
  exit 2
fi
config=$1
[ -f "$config" ] || { echo "ablations.sh: no such config: $config" >&2; exit 2; }
name=$(basename "${config%.*}")
outroot=${2:-runs/ablations/$name}
variants=${VARIANTS:-dmrnet dmrnet-loss no-hcr no-kl deterministic no-dropout}
seeds=${SEEDS:-0 1 2}
extra=${EXTRA:-}
root=$(cd "$(dirname "$0")/.." && pwd)

bin=${DMRNET:-}
if [ -z "$bin" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  bin=$tmp/dmrnet
  (cd "$root" && go build -o "$bin" ./cmd/dmrnet)
fi

start=$(date +%s)
for v in $variants; do
  for s in $seeds; do
    dir=$outroot/$v/seed$s
    if [ -f "$dir/final.ckpt" ]; then
      echo "== $v seed $s: done ($dir)"
      continue
    fi
    t0=$(date +%s)
    if [ -f "$dir/checkpoint.ckpt" ]; then
      echo "== $v seed $s: resuming $dir"
      # shellcheck disable=SC2086
      "$bin" train --resume "$dir" --quiet --format json $extra > /dev/null
    else
      echo "== $v seed $s: training into $dir"
      # shellcheck disable=SC2086
      "$bin" train --config "$config" --out "$dir" --set "variant=$v" --set "train.seed=$s" \
        --quiet --format json $extra > /dev/null
    fi
    echo "   $(( $(date +%s) - t0 ))s"
  done
done
echo "all runs in $outroot ($(( $(date +%s) - start ))s)"
