#!/usr/bin/env bash
# Peak memory and speed of `dmrnet train` on a generated manifest (scripts/gen-manifest.sh),
# with the data decoded into memory (data.stream=false) and streamed (data.stream=true),
# and whether the two runs give the same numbers:
#   - peak RSS and wall time of the whole command (/usr/bin/time -v): loading, training and
#     the final test sweep;
#   - training samples per second: training samples x epochs / the epochs' step time
#     (metrics.jsonl "seconds", which includes waiting for streamed batches);
#   - sweep.json and metrics.jsonl (without timings) compared between the two runs.
#
#   scripts/stream-measure.sh /tmp/dmrnet-stream-data [--set key=value ...]
#
# Environment: PREFETCH (data.prefetch of the streamed run, default 0 = 4 batches).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
dir=$(cd "${1:?usage: scripts/stream-measure.sh DIR [--set key=value ...]}" && pwd)
shift
bin=$(mktemp -d)/dmrnet
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./cmd/dmrnet
for stream in false true; do
	out=$dir/run-stream-$stream
	rm -rf "$out"
	extra=()
	if [ "$stream" = true ]; then extra=(--set "data.prefetch=${PREFETCH:-0}"); fi
	/usr/bin/time -v "$bin" train --config "$dir/stream.yaml" --set out="$out" --set data.stream=$stream "${extra[@]}" "$@" --quiet \
		>"$dir/train-stream-$stream.out" 2>"$dir/time-stream-$stream.txt" || { cat "$dir/time-stream-$stream.txt"; exit 1; }
	rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$dir/time-stream-$stream.txt")
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$dir/time-stream-$stream.txt")
	rate=$(python3 - "$out/metrics.jsonl" "$dir/manifest.csv" <<'PY'
import csv, json, sys
ms = [json.loads(l) for l in open(sys.argv[1])]
rows = list(csv.DictReader(open(sys.argv[2])))
n = sum(1 for r in rows if r["split"] == "train")
print("%.0f" % (n * len(ms) / sum(m["seconds"] for m in ms)))
PY
)
	printf 'data.stream=%-5s  peak RSS %7d MiB  wall %s  training %s samples/s\n' "$stream" $((rss / 1024)) "$wall" "$rate"
done
strip() { python3 -c 'import json,sys
for l in open(sys.argv[1]):
    m = json.loads(l); m.pop("seconds", None); print(json.dumps(m, sort_keys=True))' "$1"; }
if diff <(strip "$dir/run-stream-false/metrics.jsonl") <(strip "$dir/run-stream-true/metrics.jsonl") >/dev/null &&
	diff <(grep -v '"checkpoint"' "$dir/run-stream-false/sweep.json") <(grep -v '"checkpoint"' "$dir/run-stream-true/sweep.json") >/dev/null; then
	echo "same numbers: metrics.jsonl (without timings) and sweep.json (without the checkpoint path) are identical"
else
	echo "DIFFERENT numbers between the in-memory and the streamed run" >&2
	exit 1
fi
