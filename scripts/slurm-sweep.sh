#!/usr/bin/env bash
# Run a dmrnet hyper-parameter sweep as a Slurm job array: each array task is one shard and
# trains every Nth job of the grid (round robin), N being the number of array tasks.
#
#   sbatch --array=0-7 scripts/slurm-sweep.sh
#   CONFIG=configs/mfeat.yaml GRID="--grid beta=0,0.2 --grid lr=1e-3,1e-4" \
#     OUT=runs/sweep-mfeat sbatch --array=0-3 scripts/slurm-sweep.sh
#
# The array size is the number of shards: --array=0-7 runs 8 shards. Set it on the sbatch
# command line (it overrides the directive below) to any size up to the number of jobs
# (grid combinations x seeds); more tasks than jobs leave some idle. Use a range without a
# step (0-7, 1-8, or 0-7%4 to run at most 4 at a time); dmrnet reads SLURM_ARRAY_TASK_ID,
# SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_COUNT itself, so no --shard flag is passed.
# sbatch exports the submitting shell's environment to the job, so set these when submitting:
#   DMRNET  the dmrnet binary (default: dmrnet on PATH)
#   CONFIG  the sweep's base configuration (default: configs/quickstart.yaml)
#   GRID    the --grid flags, split at blanks (default: beta and alpha below)
#   SEEDS   training seeds (default: 0,1,2)
#   OUT     the sweep's root directory, on a file system every node sees (default: dmrnet's,
#           runs/sweep/<config name>)
# Each task logs to slurm-<array job id>_<task id>.out in the submission directory.
#SBATCH --job-name=dmrnet-sweep
#SBATCH --array=0-7
#SBATCH --output=slurm-%A_%a.out
#SBATCH --cpus-per-task=4
#SBATCH --time=04:00:00
set -euo pipefail

dmrnet=${DMRNET:-dmrnet}
config=${CONFIG:-configs/quickstart.yaml}
read -r -a grid <<< "${GRID:---grid beta=0,0.1,0.2,0.5 --grid alpha=0,1e-3}"
seeds=${SEEDS:-0,1,2}
out=()
if [ -n "${OUT:-}" ]; then out=(--out "$OUT"); fi

cd "${SLURM_SUBMIT_DIR:-.}"
echo "dmrnet-sweep: task ${SLURM_ARRAY_TASK_ID:-none} of ${SLURM_ARRAY_TASK_COUNT:-1} on $(hostname)"
# ${a[@]+"${a[@]}"} expands an empty array under set -u in bash < 4.4 too.
exec "$dmrnet" sweep --config "$config" ${grid[@]+"${grid[@]}"} --seeds "$seeds" ${out[@]+"${out[@]}"}
