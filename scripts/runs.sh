# shellcheck shell=bash
# Shared by ablations.sh and robust.sh (sourced, not run): train a set of settings x seeds of
# one configuration, each in its own run directory OUTROOT/<setting>/seed<k>, skipping
# finished runs (those with final.ckpt) and resuming unfinished ones from their checkpoint,
# JOBS trainings at once.

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
#
# JOBS (environment) is how many trainings run at once, like dmrnet sweep --jobs: 0 or unset
# is one per core (GOMAXPROCS, else nproc; at least one), never more than the runs left
# to train; the cores are split between them through GOMAXPROCS (at least 1 each). With more than one at once
# (bash 5.1 or later), each run's stderr goes to job.log in its run directory and a failed
# run's last "dmrnet:" line is printed when it ends. A failed run does not stop the others:
# the function lists the failed runs and exits with status 1 at the end. Ctrl-C (SIGINT or
# SIGTERM) interrupts every running training, which saves its checkpoint; the function then
# exits with status 130, and running the script again resumes.
train_runs() {
  local bin=$1 config=$2 outroot=$3 settings=$4 seeds=$5 flagsfn=$6 extra=$7
  local jobs=${JOBS:-0} script cores slots threads todo=0 total=0
  local start t0 s seed f dir rc p interrupted=0
  local -a args failed=()
  local -A running=() began=() logs=() logsize=()
  script=$(basename "$0")
  if ! [[ $jobs =~ ^[0-9]+$ ]]; then
    echo "$script: JOBS=$jobs: not a job count (give N >= 1 trainings at once, or 0 for one per core)" >&2
    exit 2
  fi
  jobs=$((10#$jobs))
  cores=${GOMAXPROCS:-}
  [[ $cores =~ ^[1-9][0-9]*$ ]] || cores=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
  for s in $settings; do
    for seed in $seeds; do
      total=$((total + 1))
      [ -f "$outroot/$s/seed$seed/final.ckpt" ] || todo=$((todo + 1))
    done
  done
  slots=$jobs
  if [ "$slots" -eq 0 ]; then
    slots=$cores
    # bash before 5.1 cannot wait for one of several trainings: auto runs them one at a time
    if (( BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] < 501 )); then slots=1; fi
  fi
  [ "$slots" -le "$todo" ] || slots=$todo
  [ "$slots" -ge 1 ] || slots=1
  threads=$((cores / slots))
  [ "$threads" -ge 1 ] || threads=1
  if [ "$slots" -gt 1 ]; then
    if (( BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] < 501 )); then
      echo "$script: JOBS=$jobs: running trainings at once needs bash 5.1 or later, this is $BASH_VERSION (use JOBS=1)" >&2
      exit 2
    fi
    echo "== $todo of $total runs to train, $slots at once, GOMAXPROCS=$threads each (logs: job.log in each run directory)"
  fi

  # stop (on Ctrl-C, or when a training was interrupted) starts no more runs and interrupts
  # the running ones, which save their checkpoints
  # shellcheck disable=SC2317
  stop() {
    local pid
    interrupted=1
    for pid in "${!running[@]}"; do
      kill -INT "$pid" 2>/dev/null || true
    done
  }
  trap stop INT TERM

  # ended NAME RC T0 LOG LOGSIZE prints how the run NAME ended and notes a failure or an
  # interruption
  ended() {
    local name=$1 rc=$2 t0=$3 log=$4 size=$5 msg
    if [ "$rc" -eq 0 ]; then
      echo "== $name: finished in $(( $(date +%s) - t0 ))s"
      return
    fi
    if [ "$rc" -eq 130 ]; then
      echo "== $name: interrupted after $(( $(date +%s) - t0 ))s (its checkpoint is saved)"
      stop
      return
    fi
    msg="exit status $rc"
    if [ -n "$log" ]; then
      msg=$(tail -c +"$((size + 1))" "$log" | grep '^dmrnet: ' | tail -n 1 || true)
      msg=${msg#dmrnet: }
      msg="${msg:-exit status $rc} (log: $log)"
    fi
    echo "== $name: FAILED after $(( $(date +%s) - t0 ))s: $msg"
    failed+=("$name")
  }

  # reap waits for one of the running trainings to end (or for Ctrl-C)
  reap() {
    local p='' rc=0
    wait -n -p p "${!running[@]}" || rc=$?
    if [ -z "$p" ]; then
      return # a trapped signal ended the wait
    fi
    local name=${running[$p]} t0=${began[$p]} log=${logs[$p]} size=${logsize[$p]}
    unset "running[$p]" "began[$p]" "logs[$p]" "logsize[$p]"
    ended "$name" "$rc" "$t0" "$log" "$size"
  }

  start=$(date +%s)
  for s in $settings; do
    f=$("$flagsfn" "$s")
    for seed in $seeds; do
      dir=$outroot/$s/seed$seed
      if [ -f "$dir/final.ckpt" ]; then
        echo "== $s seed $seed: done ($dir)"
        continue
      fi
      while [ "${#running[@]}" -ge "$slots" ] && [ "$interrupted" = 0 ]; do
        reap
      done
      if [ "$interrupted" = 1 ]; then
        break 2
      fi
      if [ -f "$dir/checkpoint.ckpt" ]; then
        echo "== $s seed $seed: resuming $dir"
        args=(train --resume "$dir")
      else
        echo "== $s seed $seed: training into $dir"
        # shellcheck disable=SC2206
        args=(train --config "$config" --out "$dir" $f --set "train.seed=$seed")
      fi
      # shellcheck disable=SC2206
      args+=(--quiet --format json $extra)
      t0=$(date +%s)
      if [ "$slots" -eq 1 ]; then
        rc=0
        "$bin" "${args[@]}" > /dev/null || rc=$?
        ended "$s seed $seed" "$rc" "$t0" "" 0
        continue
      fi
      mkdir -p "$dir"
      touch "$dir/job.log"
      p=$(wc -c < "$dir/job.log")
      GOMAXPROCS=$threads "$bin" "${args[@]}" > /dev/null 2>> "$dir/job.log" &
      running[$!]="$s seed $seed"
      began[$!]=$t0
      logs[$!]=$dir/job.log
      logsize[$!]=$p
    done
  done
  while [ "${#running[@]}" -gt 0 ]; do
    reap
  done
  trap - INT TERM
  if [ "$interrupted" = 1 ]; then
    echo "$script: interrupted: the stopped runs saved their checkpoints (run the same command again to resume)" >&2
    exit 130
  fi
  if [ "${#failed[@]}" -gt 0 ]; then
    p=$(printf '%s, ' "${failed[@]}")
    echo "$script: ${#failed[@]} of $todo runs failed: ${p%, } (see the FAILED lines above)" >&2
    exit 1
  fi
  echo "all runs in $outroot ($(( $(date +%s) - start ))s)"
}
