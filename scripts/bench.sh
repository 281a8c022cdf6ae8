#!/usr/bin/env bash
# Speed of dmrnet against the PyTorch reference (../shared/reference/dmrnet_ref.py), side by
# side on this machine:
#   - median milliseconds of one training step (mask sampling, forward, loss, backward, Adam)
#     at batch 64 for the mfeat and avmnist models, at 1 and 2 threads (GOMAXPROCS for Go,
#     torch threads for PyTorch);
#   - one evaluation pass over every combination, and the data preparation (Go);
#   - peak RSS of a whole `dmrnet train --config configs/mfeat.yaml` and of the reference's
#     training of the same model (/usr/bin/time -v).
#
#   scripts/bench.sh
#
# Environment: DMRNET_DATA_ROOT (default ../shared/data), STEPS (timed Go steps, default 200),
# REPEATS (runs per configuration; the median of their medians is reported, default 3),
# RSS=0 skips the peak-memory runs, PYTHON (default /usr/bin/python3), REF (the reference
# script). The PyTorch side runs when "$PYTHON -c 'import torch'" works
# (apt-get install -y python3-torch python3-scipy).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
export DMRNET_DATA_ROOT=${DMRNET_DATA_ROOT:-$(cd .. && pwd)/shared/data}
steps=${STEPS:-200}
repeats=${REPEATS:-3}
python=${PYTHON:-/usr/bin/python3}
ref=${REF:-../shared/reference/dmrnet_ref.py}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

echo "# machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores; $(go version | cut -d' ' -f3)"
echo "# Go benchmarks"
go test -c -o "$tmp/train.test" ./internal/train

have_torch=0
if [ -f "$ref" ] && "$python" -c "import torch" 2>/dev/null; then have_torch=1; fi

declare -A go_ms py_ms
for rep in $(seq "$repeats"); do
  for ds in mfeat avmnist; do
    name=Mfeat; [ "$ds" = avmnist ] && name=AVMNIST
    for t in 1 2; do
      # test binaries run in their package's directory, as go test runs them
      ms=$(cd internal/train && GOMAXPROCS=$t "$tmp/train.test" -test.run XXX -test.bench "^BenchmarkStep$name\$" -test.benchtime "${steps}x" \
        | awk '/median-ms/ {for (i = 1; i <= NF; i++) if ($i == "median-ms") print $(i-1)}')
      if [ -z "$ms" ]; then echo "bench.sh: the Go step benchmark of $ds failed (is the data at $DMRNET_DATA_ROOT?)" >&2; exit 1; fi
      go_ms[$ds.$t]="${go_ms[$ds.$t]:-} $ms"
      if [ "$have_torch" = 1 ]; then
        ms=$(OMP_NUM_THREADS=$t MKL_NUM_THREADS=$t OPENBLAS_NUM_THREADS=1 "$python" "$ref" --speed-one "$ds" --threads "$t" \
          | tail -1 | "$python" -c 'import json, sys; print(json.load(sys.stdin)["median_ms"])')
        py_ms[$ds.$t]="${py_ms[$ds.$t]:-} $ms"
      fi
    done
  done
done

echo
echo "| model | threads | dmrnet (Go) ms/step | PyTorch ms/step | Go / PyTorch |"
echo "|---|---|---|---|---|"
for ds in mfeat avmnist; do
  for t in 1 2; do
    g=$(printf '%s\n' ${go_ms[$ds.$t]} | median)
    p="-"; r="-"
    if [ "$have_torch" = 1 ]; then
      p=$(printf '%s\n' ${py_ms[$ds.$t]} | median)
      r=$(awk -v g="$g" -v p="$p" 'BEGIN {printf "%.2f", g / p}')
      p=$(awk -v p="$p" 'BEGIN {printf "%.2f", p}')
    fi
    printf "| %s | %s | %.2f | %s | %s |\n" "$ds" "$t" "$g" "$p" "$r"
  done
done
echo "(median over $steps steps, median of $repeats runs; batch 64; dmrnet variant with HCR, KL and modality dropout)"

echo
echo "# evaluation pass (every combination of the test split) and data preparation, GOMAXPROCS=2"
(cd internal/train && GOMAXPROCS=2 "$tmp/train.test" -test.run XXX -test.bench '^Benchmark(Eval|Load)' -test.benchtime 3x -test.benchmem) \
  | awk '/^Benchmark/ {printf "%-24s %8.1f ms/op %10.1f MB/op %9d allocs/op\n", $1, $3/1e6, $5/1e6, $7}'

if [ "${RSS:-1}" != 0 ]; then
  echo
  echo "# peak RSS of a whole training of configs/mfeat.yaml"
  go build -o "$tmp/dmrnet" ./cmd/dmrnet
  /usr/bin/time -v "$tmp/dmrnet" train --config configs/mfeat.yaml --out "$tmp/run" --quiet >/dev/null 2>"$tmp/go.time"
  echo "dmrnet:  $(awk -F: '/Maximum resident/ {printf "%.1f MB", $2/1024}' "$tmp/go.time"), $(awk -F': ' '/Elapsed/ {print $2}' "$tmp/go.time") wall"
  if [ "$have_torch" = 1 ]; then
    OMP_NUM_THREADS=2 /usr/bin/time -v "$python" "$ref" --dataset mfeat --variant dmrnet --seed 0 --out "$tmp/ref.json" >/dev/null 2>"$tmp/py.time"
    echo "PyTorch: $(awk -F: '/Maximum resident/ {printf "%.1f MB", $2/1024}' "$tmp/py.time"), $(awk -F': ' '/Elapsed/ {print $2}' "$tmp/py.time") wall"
  fi
fi
