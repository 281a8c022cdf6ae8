#!/usr/bin/env bash
# Runs dmrnet's tests for linux/arm64 on any Linux machine: cross-compiles each package's test
# binary (GOARCH=arm64, no cgo) and runs it under qemu-aarch64 (user-mode emulation), so that
# the NEON GEMM kernel (internal/sgemm), and the packages whose tests run on it
# (internal/model, internal/optim), are tested on an amd64 CI machine. Prints PASS/FAIL and the time of each package; exits
# non-zero if any fails.
#
#   scripts/test-arm64.sh            sgemm (the NEON kernel), model and optim
#   scripts/test-arm64.sh --all      every package that has tests (slow: about 40 minutes on
#                                    a 2-core machine, half of it cmd/dmrnet)
#   scripts/test-arm64.sh ./internal/wav ./internal/combo    the given packages
#
# The test binaries run with -test.short (the long determinism tests try fewer thread counts)
# in their package directory, as `go test` runs them. DMRNET_REQUIRE_TORCH is unset, so the
# test that needs PyTorch (cmd/dmrnet's export test, only with --all) skips where torch is
# missing instead of failing; where it is installed, python3 runs natively next to the
# emulated binary. Data-dependent tests find the data through DMRNET_DATA_ROOT (default
# ../shared/data, as for the native tests). Tests that start their own binary again are
# skipped unless qemu is registered with binfmt_misc (the reexec table below).
#
# Environment: QEMU (the emulator, default qemu-aarch64, else qemu-aarch64-static; installed
# with apt-get when neither is found), TIMEOUT (per package, default 30m).
#
# Timings under emulation are not arm64 speed: qemu translates every instruction (and runs
# floating-point vector instructions through helpers), so this script checks correctness only.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
export DMRNET_DATA_ROOT=${DMRNET_DATA_ROOT:-$(cd .. && pwd)/shared/data}
unset DMRNET_REQUIRE_TORCH
timeout=${TIMEOUT:-30m}

qemu=${QEMU:-}
if [ -z "$qemu" ]; then
  if command -v qemu-aarch64 >/dev/null; then
    qemu="qemu-aarch64"
  elif command -v qemu-aarch64-static >/dev/null; then
    qemu="qemu-aarch64-static"
  else
    echo "installing qemu-user for qemu-aarch64" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user >/dev/null
    qemu="qemu-aarch64"
  fi
fi
command -v "$qemu" >/dev/null || { echo "test-arm64: $qemu not found (set QEMU or install qemu-user)" >&2; exit 1; }

case "${1:-}" in
  "") pkgs=(./internal/sgemm ./internal/optim ./internal/model) ;;
  --all) mapfile -t pkgs < <(go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.Dir}}{{end}}' ./... | sed "s|^$PWD|.|") ;;
  -*) echo "usage: scripts/test-arm64.sh [--all | PACKAGE...]" >&2; exit 2 ;;
  *) pkgs=("$@") ;;
esac

# Tests that start their own test binary again (os.Args[0]) in a child process: the kernel
# cannot run an arm64 binary unless qemu is registered with binfmt_misc (Debian's
# qemu-user-binfmt, not available in containers), so they are skipped without it.
declare -A reexec=([internal/runlock]='^TestOtherProcess$')
binfmt=0
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] && binfmt=1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS
failed=0
for pkg in "${pkgs[@]}"; do
  name=$(echo "${pkg#./}" | tr / _)
  t0=$SECONDS
  if ! GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go test -c -o "$tmp/$name.test" "$pkg" >"$tmp/$name.log" 2>&1; then
    printf 'FAIL  %-24s build failed\n' "$pkg"
    sed 's/^/    /' "$tmp/$name.log" >&2
    failed=1
    continue
  fi
  if [ ! -e "$tmp/$name.test" ]; then
    printf 'SKIP  %-24s no tests\n' "$pkg"
    continue
  fi
  skip=()
  note=
  if [ "$binfmt" = 0 ] && [ -n "${reexec[${pkg#./}]:-}" ]; then
    skip=(-test.skip "${reexec[${pkg#./}]}")
    note=", skipped ${reexec[${pkg#./}]}: no binfmt_misc"
  fi
  t1=$SECONDS
  if (cd "$pkg" && "$qemu" "$tmp/$name.test" -test.short -test.count=1 -test.timeout="$timeout" "${skip[@]}") >"$tmp/$name.log" 2>&1; then
    printf 'PASS  %-24s %4ds (build %ds%s)\n' "$pkg" $((SECONDS - t1)) $((t1 - t0)) "$note"
  else
    printf 'FAIL  %-24s %4ds (build %ds)\n' "$pkg" $((SECONDS - t1)) $((t1 - t0))
    { { grep -E -- '^[[:space:]]*(--- FAIL|panic: )' "$tmp/$name.log" || true; } | head -n 20; echo ...; tail -n 30 "$tmp/$name.log"; } | sed 's/^/    /' >&2
    failed=1
  fi
done
echo "arm64 tests under $qemu: $((SECONDS - start))s"
exit $failed
