#!/usr/bin/env bash
# Speed of dmrnet against the PyTorch reference (../shared/reference/dmrnet_ref.py), side by
# side on this machine:
#   - median milliseconds of one training step (mask sampling, forward, loss, backward, Adam)
#     at batch 64 for the mfeat and avmnist models, at 1 and 2 threads (GOMAXPROCS for Go,
#     torch threads for PyTorch);
#   - one evaluation pass over every combination, and the data preparation (Go);
#   - peak RSS of a whole `dmrnet train --config configs/mfeat.yaml` and of the reference's
#     training of the same model (/usr/bin/time -v);
#   - the GEMM micro-kernel the Go side runs (avx512, avx2, neon or portable) and the GFLOP/s
#     of internal/sgemm on a large square product and on the models' shapes, for that kernel
#     and the other assembly kernels of this CPU, against the single-core peak.
#
#   scripts/bench.sh
#   KERNEL=avx2 scripts/bench.sh     # the Go side as on a machine without AVX-512
#
# Environment: KERNEL (the GEMM kernel of every Go run, exported as DMRNET_GEMM_KERNEL:
# auto, avx512, avx2, portable, neon on arm64; default auto, the fastest this CPU runs),
# GEMM=0 skips the GEMM section, DMRNET_DATA_ROOT (default ../shared/data), STEPS (timed Go steps, default 200),
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
export DMRNET_GEMM_KERNEL=${KERNEL:-auto}

median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

echo "# machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores; $(go version | cut -d' ' -f3)"
go test -c -o "$tmp/sgemm.test" ./internal/sgemm
# TestKernelInUse fails, naming the kernels this CPU runs, when KERNEL is not one of them
if ! out=$(cd internal/sgemm && "$tmp/sgemm.test" -test.run '^TestKernelInUse$' -test.v 2>&1); then
  echo "bench.sh: KERNEL=$DMRNET_GEMM_KERNEL: $(echo "$out" | grep -m1 -o 'DMRNET_GEMM_KERNEL=.*' || echo "$out" | tail -1)" >&2
  exit 1
fi
kernel=$(echo "$out" | sed -n 's/.*GEMM kernel in use: //p')
echo "# GEMM kernel of the Go side: $kernel (KERNEL=$DMRNET_GEMM_KERNEL)"
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
  | awk '/^Benchmark/ {
      for (i = 2; i <= NF; i++) { if ($i == "ns/op") ns = $(i-1); if ($i == "B/op") by = $(i-1); if ($i == "allocs/op") al = $(i-1) }
      printf "%-24s %8.1f ms/op %10.1f MB/op %9d allocs/op\n", $1, ns/1e6, by/1e6, al }'

if [ "${GEMM:-1}" != 0 ]; then
  echo
  echo "# GEMM (internal/sgemm, one goroutine): GFLOP/s = 2mkn / time, median of $repeats runs"
  # the assembly kernels of this CPU, and the one in use even if it is the portable loop
  kernels=$(cd internal/sgemm && "$tmp/sgemm.test" -test.run '^$' -test.bench '^BenchmarkKernelPeak$' -test.benchtime 1x \
    | awk '/^BenchmarkKernelPeak\// {sub(/^BenchmarkKernelPeak\//, "", $1); sub(/-.*/, "", $1); if (!seen[$1]++) print $1}' | tr '\n' ' ')
  case " $kernels " in *" $kernel "*) ;; *) kernels="$kernel $kernels" ;; esac
  re=$(echo $kernels | tr ' ' '|')
  (cd internal/sgemm && "$tmp/sgemm.test" -test.run '^$' -test.bench "^BenchmarkGEMM\$/./^($re)\$" -test.benchtime 200ms -test.count "$repeats" &&
    "$tmp/sgemm.test" -test.run '^$' -test.bench "^BenchmarkKernelPeak\$" -test.benchtime 200ms -test.count "$repeats") >"$tmp/gemm.txt"
  # cpu-GFLOP/s divides by the process's CPU time rather than the wall clock: on a machine
  # shared with other work it is the kernel's own speed, the wall-clock figure what a run got
  awk -v kernels="$kernels" -v inuse="$kernel" '
    function median(s,   a, n, i, j, t) {
      n = split(s, a, " ")
      for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
      return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
    }
    /^BenchmarkGEMM\// {
      split($1, p, "/"); shape = p[2]; k = p[3]; sub(/-[0-9]+$/, "", k)
      for (i = 1; i <= NF; i++) { if ($i == "GFLOP/s") wall[shape, k] = wall[shape, k] " " $(i-1); if ($i == "cpu-GFLOP/s") cpu[shape, k] = cpu[shape, k] " " $(i-1) }
      if (!(shape in seen)) { seen[shape] = 1; order[++ns] = shape }
    }
    END {
      nk = split(kernels, ks, " ")
      printf "| shape (m x k x n) |"; for (j = 1; j <= nk; j++) printf " %s%s cpu / wall |", ks[j], ks[j] == inuse ? " (in use)" : ""; print ""
      printf "|---|"; for (j = 1; j <= nk; j++) printf "---|"; print ""
      for (i = 1; i <= ns; i++) {
        printf "| %s |", order[i]
        for (j = 1; j <= nk; j++) printf " %.1f / %.1f |", median(cpu[order[i], ks[j]]), median(wall[order[i], ks[j]])
        print ""
      }
    }' "$tmp/gemm.txt"
  echo "(shapes: square-512 = 512x512x512; conv = avmnist convolutions per sample (fwd, dW, dcol); dense = avmnist/mfeat dense layers at batch 64; see gemmShapes in internal/sgemm/sgemm_test.go)"
  # single-core peak = FMA units x lanes x 2 flops x clock. Lanes come from the kernel, the
  # clock from /proc/cpuinfo ("cpu MHz", the nominal clock on most machines and VMs); the
  # number of FMA units is inferred from BenchmarkKernelPeak, the kernel alone on panels
  # in L1: the nearest whole multiple of lanes x 2 x clock it reaches (a clock boosted far
  # above the nominal one would inflate it; Xeon Gold/Platinum and later have 2 units for
  # 512-bit FMAs, some Silver/Bronze parts 1).
  mhz=$(awk -F: '/^cpu MHz/ {printf "%d", $2; exit}' /proc/cpuinfo 2>/dev/null || true)
  for k in $kernels; do
    case "$k" in avx512) lanes=16 ;; avx2) lanes=8 ;; neon) lanes=4 ;; *) lanes= ;; esac
    # the best of the runs: a peak, which other work on the machine can only lower
    peakk=$(awk -v k="$k" '$1 ~ "^BenchmarkKernelPeak/" k "-" {for (i = 1; i <= NF; i++) if ($i == "cpu-GFLOP/s") print $(i-1)}' "$tmp/gemm.txt" | sort -g | tail -1)
    if [ -z "$lanes" ]; then
      echo "single-core peak for $k: not applicable (a scalar Go loop, no vector FMA kernel)"
    elif [ -n "$mhz" ] && [ -n "$peakk" ]; then
      awk -v lanes="$lanes" -v mhz="$mhz" -v pk="$peakk" -v k="$k" 'BEGIN {
        one = lanes * 2 * mhz / 1000; units = int(pk / one + 0.5); if (units < 1) units = 1
        printf "single-core peak for %s: %d FMA unit(s) x %d lanes x 2 flops x %.2f GHz = %.1f GFLOP/s", k, units, lanes, mhz / 1000, units * one
        printf " (units inferred: the kernel alone, in L1, reaches at best %.1f GFLOP/s = %.2f x one unit'"'"'s %.1f)\n", pk, pk / one, one
      }'
    else
      echo "single-core peak for $k: not computed (cpu MHz ${mhz:-unknown}, kernel peak ${peakk:-not measured})"
    fi
  done
fi

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
