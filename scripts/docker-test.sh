#!/usr/bin/env bash
# Builds the container image from the repository's Dockerfile without a container engine or
# registry access, and trains the quick start inside it:
#   1. runs the go build line of the Dockerfile's build stage here (the golang base image
#      cannot be pulled offline), into a directory laid out like that stage (/out/dmrnet);
#   2. builds the Dockerfile with buildah (chroot isolation, vfs storage, nothing pulled),
#      giving that directory as the build stage (--build-context build=DIR), so the final
#      stage is built exactly as written;
#   3. checks the image's configuration (entry point, non-root user, working directory) and
#      runs dmrnet in it as that user: dmrnet version, and dmrnet train on the quick start
#      with a run directory mounted at /work/runs.
#
#   scripts/docker-test.sh            (as root; .ci/run runs it)
#
# Installs Debian's buildah when it is missing; keeps its storage in a temporary directory
# that it removes on exit (KEEP=1 keeps it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
start=$(date +%s)
say() { echo "docker-test: $*" >&2; }
fail() {
  say "FAIL: $*"
  exit 1
}
[ "$(id -u)" = 0 ] || fail "needs root (buildah's chroot isolation)"
if ! command -v buildah >/dev/null; then
  say "installing buildah"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 buildah >/dev/null
fi

tmp=$(mktemp -d /tmp/dmrnet-docker-test.XXXXXX)
tag="localhost/dmrnet-test:$(basename "$tmp" | tr 'A-Z.' 'a-z-')"
bah=(buildah --root "$tmp/root" --runroot "$tmp/runroot" --storage-driver vfs)
cleanup() {
  local rc=$?
  "${bah[@]}" rm --all >/dev/null 2>&1 || true
  "${bah[@]}" rmi --all --force >/dev/null 2>&1 || true
  if [ "${KEEP:-}" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
  if [ "$rc" = 0 ]; then say "PASS in $(($(date +%s) - start)) s"; fi
  exit "$rc"
}
trap cleanup EXIT

# 1. the build stage's go build line, with its output redirected
build=$(sed -n 's/^RUN \(CGO_ENABLED=0 go build .* -o \/out\/dmrnet .*\)$/\1/p' Dockerfile)
[ -n "$build" ] || fail "no 'RUN CGO_ENABLED=0 go build ... -o /out/dmrnet ...' line in the Dockerfile"
mkdir -p "$tmp/build/out"
say "building: $build"
sh -c "${build/-o \/out\/dmrnet /-o $tmp/build/out/dmrnet }" || fail "the Dockerfile's go build failed"
DMRNET_STATIC_BINARY="$tmp/build/out/dmrnet" go test -count=1 -run '^TestStaticBinary$' ./internal/launch >/dev/null ||
  fail "the Dockerfile's go build made a binary that is not static (go test -run TestStaticBinary ./internal/launch)"

# 2. the image, from the Dockerfile as it is
"${bah[@]}" bud --quiet --isolation chroot --pull=never --build-context build="$tmp/build" \
  -t "$tag" -f Dockerfile . >/dev/null || fail "buildah bud -f Dockerfile failed"

# 3. its configuration, and dmrnet running in it
cfg=$("${bah[@]}" inspect --format '{{.OCIv1.Config.User}}|{{.OCIv1.Config.Entrypoint}}|{{.OCIv1.Config.WorkingDir}}' "$tag")
[ "$cfg" = "65532:65532|[dmrnet]|/work" ] || fail "image configuration $cfg; want user 65532:65532, entry point [dmrnet], working directory /work"
ctr=$("${bah[@]}" from --pull-never "$tag")
out=$("${bah[@]}" run --isolation chroot "$ctr" -- dmrnet version) || fail "dmrnet version in the image"
say "in the image: $out"
grep -q '^dmrnet ' <<<"$out" || fail "dmrnet version printed: $out"
mkdir -p "$tmp/runs"
chown 65532:65532 "$tmp/runs"
"${bah[@]}" run --isolation chroot --volume "$tmp/runs:/work/runs" --volume "$PWD/configs:/work/configs:ro" "$ctr" -- \
  dmrnet train --config configs/quickstart.yaml --set train.epochs=3 >/dev/null || fail "dmrnet train in the image"
[ -e "$tmp/runs/quickstart/final.ckpt" ] || fail "training in the image wrote no runs/quickstart/final.ckpt"
[ "$(stat -c %u "$tmp/runs/quickstart/final.ckpt")" = 65532 ] || fail "the image's process did not run as user 65532"
say "trained the quick start in the image as user 65532"
