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
#   JOBS      trainings at once, like dmrnet sweep --jobs (default 0: one per core, the
#             cores split between them; with more than one, each run logs to job.log in its dir)
#   DMRNET    dmrnet binary to use (default: built from this checkout into a temp dir)
#   EXTRA     more --set flags for every run, e.g. EXTRA="--set train.epochs=5"
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  sed -n '2,15p' "$0" >&2
  exit 2
fi
config=$1
[ -f "$config" ] || { echo "ablations.sh: no such config: $config" >&2; exit 2; }
name=$(basename "${config%.*}")
outroot=${2:-runs/ablations/$name}
variants=${VARIANTS:-dmrnet dmrnet-loss no-hcr no-kl deterministic no-dropout}
seeds=${SEEDS:-0 1 2}
extra=${EXTRA:-}

variant_flags() { echo "--set variant=$1"; }

# shellcheck source=scripts/runs.sh
. "$(dirname "$0")/runs.sh"
set_dmrnet_binary
train_runs "$bin" "$config" "$outroot" "$variants" "$seeds" variant_flags "$extra"
