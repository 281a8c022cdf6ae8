#!/usr/bin/env bash
# Runs a dmrnet sweep on a real, single-node Slurm cluster that this script sets up and tears
# down: the launcher that `dmrnet sweep --emit slurm` writes is submitted as it is, and the
# script checks that
#   1. every job of the grid ran exactly once (a final.ckpt in each run directory, one
#      training per job in the task logs) and the aggregate job, which Slurm starts with
#      --dependency=afterok on the array, wrote the summary;
#   2. resubmitting the launcher skips the finished jobs (the logs say so, their files are
#      unchanged) and completes an interrupted one: a task cancelled with scancel in the
#      middle of its training (SIGTERM: dmrnet saves a checkpoint and stops) resumes from its
#      checkpoint instead of starting again.
#
#   scripts/slurm-test.sh            (as root; .ci/run runs it)
#
# It needs root and Debian's slurm-wlm and munge, which it installs when they are missing. It
# runs private daemons (munged, slurmctld, slurmd) on free ports with their configuration,
# state and logs in a temporary directory, so it works whether or not Slurm is installed or
# running already, and stops them and removes the directory on exit. Environment:
#   DMRNET_SLURM_TIMEOUT  seconds to wait for each step (default 300)
#   KEEP=1                keep the temporary directory (its path is printed)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
timeout=${DMRNET_SLURM_TIMEOUT:-300}
start=$(date +%s)

say() { echo "slurm-test: $*" >&2; }
tmp=$(mktemp -d /tmp/dmrnet-slurm-test.XXXXXX)
chmod 755 "$tmp"
pids=()

dump_logs() {
  for f in "$tmp"/log/*.log "$tmp"/work/slurm-*.out; do
    [ -f "$f" ] || continue
    echo "----- $f (last 40 lines)" >&2
    tail -n 40 "$f" >&2
  done
}

fail() {
  say "FAIL: $*"
  dump_logs
  exit 1
}

cleanup() {
  local rc=$?
  # stop only the daemons this script started, by their pids
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  if [ "${KEEP:-}" = 1 ]; then
    say "kept $tmp"
  else
    rm -rf "$tmp"
  fi
  if [ "$rc" = 0 ]; then say "PASS in $(($(date +%s) - start)) s"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for SECONDS WHAT COMMAND...: run COMMAND every half second until it succeeds.
wait_for() {
  local secs=$1 what=$2
  shift 2
  local end=$(($(date +%s) + secs))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$end" ]; then fail "timed out after ${secs}s waiting for $what"; fi
    sleep 0.5
  done
}

[ "$(id -u)" = 0 ] || fail "needs root (it installs Slurm and runs its daemons as root)"

# --- install ---------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null ||
  ! command -v munged >/dev/null; then
  say "installing slurm-wlm and munge"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq -o DPkg::Lock::Timeout=300 slurm-wlm munge >/dev/null
fi
for c in slurmctld slurmd sbatch scontrol scancel sinfo munged mungekey; do
  command -v "$c" >/dev/null || fail "$c is not installed"
done

# --- a free port: nothing answers on it ------------------------------------------------
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  fail "no free TCP port"
}
ctld_port=$(free_port)
slurmd_port=$(free_port)
[ "$ctld_port" != "$slurmd_port" ] || slurmd_port=$((ctld_port + 1))

# --- munge -------------------------------------------------------------------------------
mkdir -p "$tmp/munge" "$tmp/log" "$tmp/state" "$tmp/spool" "$tmp/work"
chmod 700 "$tmp/munge"
mungekey --create --keyfile="$tmp/munge/munge.key" --force >/dev/null 2>&1 ||
  dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$tmp/munge/munge.key"
munged --force --key-file="$tmp/munge/munge.key" --socket="$tmp/munge/munge.socket" \
  --pid-file="$tmp/munge/munged.pid" --log-file="$tmp/log/munged.log" --seed-file="$tmp/munge/seed" ||
  fail "munged did not start"
wait_for 10 "munged's pid file" test -s "$tmp/munge/munged.pid"
pids+=("$(cat "$tmp/munge/munged.pid")")
wait_for 10 "munged's socket" test -S "$tmp/munge/munge.socket"

# --- slurm.conf for this machine --------------------------------------------------------
host=$(hostname -s)
cpus=$(nproc)
# leave a little memory to the system; slurmd refuses a node with more than it has
mem_mb=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10))
export SLURM_CONF="$tmp/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=dmrnettest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$tmp/munge/munge.socket
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool/%n
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=1
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
MessageTimeout=10
SlurmdTimeout=60
InactiveLimit=0
KillWait=10
MinJobAge=3600
MaxArraySize=1001
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

slurmctld -D -i -f "$SLURM_CONF" >>"$tmp/log/slurmctld.stdout.log" 2>&1 &
pids+=($!)
wait_for 30 "slurmctld to answer (scontrol ping)" bash -c 'scontrol ping | grep -q UP'
slurmd -D -f "$SLURM_CONF" -N "$host" >>"$tmp/log/slurmd.stdout.log" 2>&1 &
pids+=($!)
wait_for 60 "node $host to be idle (sinfo)" bash -c "sinfo -h -n '$host' -o %T | grep -qx idle"
say "Slurm is up on $host ($cpus CPUs, ${mem_mb} MB; ports $ctld_port/$slurmd_port) after $(($(date +%s) - start)) s"

# --- the sweep ---------------------------------------------------------------------------
say "building dmrnet"
go build -o "$tmp/dmrnet" ./cmd/dmrnet
cp configs/quickstart.yaml "$tmp/work/quickstart.yaml"
cd "$tmp/work"
# 2 settings x 2 seeds = 4 jobs in 2 shards (two jobs per task, so a task skips its
# finished job and resumes its interrupted one in the same run); one CPU each, so both
# tasks run at once on two cores. The second setting trains long enough (150 epochs, some
# 10 s) to be cancelled in the middle.
"$tmp/dmrnet" sweep --config quickstart.yaml --grid epochs=20,150 --seeds 0,1 --out runs \
  --set hard.warmup_epochs=2 --emit slurm --shards 2 --cpus 1 --mem 1G --time 30m --name dmrnet-test \
  --output sweep.sh || fail "dmrnet sweep --emit slurm"
jobs=("epochs=20/seed0" "epochs=20/seed1" "epochs=150/seed0" "epochs=150/seed1")

# job_state ID: the states of job ID (an array: one per task), one a line.
job_state() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'; }
# finished ID: every task of ID has ended.
finished() {
  local s
  s=$(job_state "$1")
  [ -n "$s" ] && ! grep -qvE '^(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|PREEMPTED|BOOT_FAIL|DEADLINE)$' <<<"$s"
}
# submit: bash the launcher, as a user does; sets array and aggregate to the job ids.
submit() {
  local out
  out=$(bash sweep.sh) || fail "bash sweep.sh: $out"
  say "$out"
  array=$(sed -n 's/.*array job \([0-9]*\).*/\1/p' <<<"$out")
  aggregate=$(sed -n 's/.*aggregate job \([0-9]*\).*/\1/p' <<<"$out")
  [ -n "$array" ] && [ -n "$aggregate" ] || fail "no job ids in: $out"
}
# expect_all ID STATE: every task of job ID ended in STATE.
expect_all() {
  local s
  s=$(job_state "$1" | sort -u)
  [ "$s" = "$2" ] || fail "job $1 ended as $(tr '\n' ' ' <<<"$s"); want $2"
}
mtimes() { find runs -name final.ckpt -printf '%p %T@\n' | sort; }

# --- 1. first submission: train the grid, with one task cancelled mid-training ---------------
# A task fails, so the aggregate job must never run (afterok); the next submission
# finishes the sweep.
submit
first_array=$array first_aggregate=$aggregate
slow=runs/epochs=150/seed0
# wait until the long job has written a few epochs, then cancel its task (SIGTERM)
wait_for "$timeout" "$slow to train a few epochs" bash -c "[ \$(wc -l < $slow/metrics.jsonl 2>/dev/null || echo 0) -ge 5 ]"
task=$(grep -l "job [0-9]*/[0-9]* epochs=150/seed0: started\$" slurm-"$array"_*.out | sed -n 's/.*_\([0-9]*\)\.out/\1/p' || true)
[ -n "$task" ] || fail "no task log names job epochs=150/seed0"
scancel --signal=TERM --full "${array}_$task" 2>/dev/null || scancel "${array}_$task"
wait_for "$timeout" "array job $array to end" finished "$array"
grep -q "interrupted" "slurm-${array}_$task.out" || fail "task $task's log does not say it was interrupted"
[ ! -e "$slow/final.ckpt" ] && [ -e "$slow/checkpoint.ckpt" ] ||
  fail "$slow: want a checkpoint and no final.ckpt after the cancel"
epochs_at_cancel=$(wc -l <"$slow/metrics.jsonl")
# the first epochs' metrics (with their timings): a resumed job keeps them, a restarted one
# would write new ones
head -n 3 "$slow/metrics.jsonl" >"$tmp/first-epochs"
say "cancelled task $task during $slow after $epochs_at_cancel epochs"
# the aggregate job depends on every task succeeding: it must not run
wait_for 60 "aggregate job $aggregate to be cancelled (its dependency failed)" finished "$aggregate"
expect_all "$aggregate" CANCELLED
[ ! -e runs/summary.md ] || fail "the aggregate job ran although a task failed"

# --- 2. resubmit: finished jobs are skipped, the cancelled one resumes -------------------
sleep 1.1 # let a rewritten final.ckpt get a different mtime
before=$(mtimes)
submit
wait_for "$timeout" "array job $array to end" finished "$array"
expect_all "$array" COMPLETED
wait_for "$timeout" "aggregate job $aggregate to end" finished "$aggregate"
expect_all "$aggregate" COMPLETED
for j in "${jobs[@]}"; do
  [ -e "runs/$j/final.ckpt" ] || fail "runs/$j has no final.ckpt"
done
# every job trained exactly once over both submissions: one "job k/n NAME" line without
# ": done" per job, and the resumed job's metrics have one line per epoch, none twice
for j in "${jobs[@]}"; do
  n=$(cat slurm-"$first_array"_*.out slurm-"$array"_*.out | grep -cE "job [0-9]+/[0-9]+ $j: started\$" || true)
  if [ "$j" = epochs=150/seed0 ]; then want=2; else want=1; fi # started, then resumed
  [ "$n" = "$want" ] || fail "job $j started $n times; want $want"
done
grep -hE "job [0-9]+/[0-9]+ .*: done\$" slurm-"$array"_*.out | grep -q . ||
  fail "the resubmitted array skipped no finished job"
finished_before=$(grep -v "^$slow/" <<<"$before")
after=$(mtimes)
[ "$(grep -v "^$slow/" <<<"$after")" = "$finished_before" ] ||
  fail "finished jobs were rewritten: before
$finished_before
after
$after"
head -n 3 "$slow/metrics.jsonl" | cmp -s - "$tmp/first-epochs" ||
  fail "$slow: the first epochs' metrics changed: the job trained again instead of resuming"
epochs=$(wc -l <"$slow/metrics.jsonl")
uniq_epochs=$(sed -n 's/.*"epoch": *\([0-9]*\).*/\1/p' "$slow/metrics.jsonl" | sort -un | wc -l)
[ "$epochs" = 150 ] && [ "$uniq_epochs" = 150 ] ||
  fail "$slow: $epochs metric lines, $uniq_epochs distinct epochs after resuming; want 150 of each"
[ -s runs/summary.md ] || fail "the aggregate job wrote no runs/summary.md"
for s in epochs=20 epochs=150; do grep -q "$s" runs/summary.md || fail "the summary lacks $s"; done

# --- 3. resubmit a finished sweep: every job is skipped ------------------------------------
before=$(mtimes)
submit
wait_for "$timeout" "array job $array to end" finished "$array"
expect_all "$array" COMPLETED
wait_for "$timeout" "aggregate job $aggregate to end" finished "$aggregate"
expect_all "$aggregate" COMPLETED
[ "$(cat slurm-"$array"_*.out | grep -cE ': done$')" = 4 ] ||
  fail "the third submission did not skip all 4 jobs"
[ "$(mtimes)" = "$before" ] || fail "the third submission rewrote a finished job"

say "summary (runs/summary.md, by aggregate job $aggregate):"
cat runs/summary.md >&2
cd "$repo"
