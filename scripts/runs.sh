# Shared by ablations.sh and robust.sh (sourced, not run): train a set of settings x seeds of
# one configuration, each in its own run directory OUTROOT/<setting>/seed<k>, skipping
# finished runs (those with final.ckpt) and resuming unfinished ones from their checkpoint.

# set_dmrnet_binary sets bin to the dmrnet binary to use: $DMRNET, or one built from this
# checkout into a temporary directory that is removed when the calling script exits. It sets
# a variable rather than printing the path because a command substitution's subshell would
# run the EXIT trap, removing the binary, as soon as it returned.
set_dmrnet_binary() {
  bin=${DMRNET:-}
  if [ -n "$bin" ]; then
    return
  fi
  local root tmp
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  bin=$tmp/dmrnet
  (cd "$root" && go build -o "$bin" ./cmd/dmrnet)
}

# train_runs BIN CONFIG OUTROOT SETTINGS SEEDS FLAGS_FUNCTION EXTRA trains every setting of
# the space-separated SETTINGS with every seed of SEEDS; FLAGS_FUNCTION SETTING prints the
# setting's train flags, EXTRA holds more flags for every run.
train_runs() {
  local bin=$1 config=$2 outroot=$3 settings=$4 seeds=$5 flagsfn=$6 extra=$7
  local start t0 s seed f dir
  start=$(date +%s)
  for s in $settings; do
    f=$("$flagsfn" "$s")
    for seed in $seeds; do
      dir=$outroot/$s/seed$seed
      if [ -f "$dir/final.ckpt" ]; then
        echo "== $s seed $seed: done ($dir)"
        continue
      fi
      t0=$(date +%s)
      if [ -f "$dir/checkpoint.ckpt" ]; then
        echo "== $s seed $seed: resuming $dir"
        # shellcheck disable=SC2086
        "$bin" train --resume "$dir" --quiet --format json $extra > /dev/null
      else
        echo "== $s seed $seed: training into $dir"
        # shellcheck disable=SC2086
        "$bin" train --config "$config" --out "$dir" $f --set "train.seed=$seed" \
          --quiet --format json $extra > /dev/null
      fi
      echo "   $(( $(date +%s) - t0 ))s"
    done
  done
  echo "all runs in $outroot ($(( $(date +%s) - start ))s)"
}
