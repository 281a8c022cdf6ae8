#!/usr/bin/env bash
# Train the robustness options of a configuration against the paper's setting: six settings x
# three seeds, each in its own run directory OUTROOT/<setting>/seed<k>.
#
#   scripts/robust.sh CONFIG [OUTROOT]
#
# Settings: dmrnet (the configuration as it is), no-hcr, aux (auxiliary heads, weight 1),
# route and ensemble (aux heads with those inference modes), soft (soft hard-combination
# weights). OUTROOT defaults to runs/robust/<config name>. Finished runs are skipped and
# unfinished ones resumed. Environment: SETTINGS, SEEDS (default 0 1 2), JOBS (trainings at
# once, default 0: one per core, see scripts/ablations.sh), DMRNET (binary), EXTRA (more flags
# for every run). Compare with specialists:
#   dmrnet specialists --config CONFIG --seeds 0,1,2 --out runs/specialists/<name>
#   dmrnet aggregate OUTROOT --specialists runs/specialists/<name>
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  sed -n '2,15p' "$0" >&2
  exit 2
fi
config=$1
[ -f "$config" ] || { echo "robust.sh: no such config: $config" >&2; exit 2; }
name=$(basename "${config%.*}")
outroot=${2:-runs/robust/$name}
settings=${SETTINGS:-dmrnet no-hcr aux route ensemble soft}
seeds=${SEEDS:-0 1 2}
extra=${EXTRA:-}

flags() {
  case $1 in
    dmrnet) echo "" ;;
    no-hcr) echo "--set variant=no-hcr" ;;
    aux) echo "--set model.aux_heads.weight=1" ;;
    route) echo "--set model.aux_heads.weight=1 --set model.inference=route" ;;
    ensemble) echo "--set model.aux_heads.weight=1 --set model.inference=ensemble" ;;
    soft) echo "--set hard.by=soft" ;;
    *) echo "robust.sh: unknown setting $1" >&2; exit 2 ;;
  esac
}

# shellcheck source=scripts/runs.sh
. "$(dirname "$0")/runs.sh"
set_dmrnet_binary
train_runs "$bin" "$config" "$outroot" "$settings" "$seeds" flags "$extra"
