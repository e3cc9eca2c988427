#!/usr/bin/env bash
# The in-memory link pipeline (TLEM V-C): ns per frame for 64 B and
# 1500 B frames, 0 and 20 ms delay, with and without copies, and a plain
# copy through the same ring with no emulation; REPS runs of the Go
# benchmark, medians, the ratio of emulating to the plain copy, and
# TLEM's numbers beside them. Usage: bench/link.sh [REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-5}
GO=${GO:-go}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$GO" test -run='^$' -bench='^BenchmarkPipe$' -benchtime=20000000x -count="$REPS" ./engine/link/ | tee "$out" | grep -E '^(goos|cpu):' || true
python3 - "$out" <<'PY'
import re, statistics, sys
vals = {}
for line in open(sys.argv[1]):
    m = re.match(r"BenchmarkPipe/(\S+?)-\d+\s.*?\s([\d.]+) ns/pkt", line)
    if m:
        vals.setdefault(m.group(1), []).append(float(m.group(2)))
tlem = {"frame=64/delay=0s/copy=false": 30, "frame=64/delay=20ms/copy=false": 35,
        "frame=64/delay=0s/copy=true": 44, "frame=64/delay=20ms/copy=true": 54,
        "frame=1500/delay=0s/copy=true": 250, "frame=1500/delay=20ms/copy=true": 400}
med = {k: statistics.median(v) for k, v in vals.items()}
n = len(next(iter(vals.values()))) if vals else 0
print(f"in-memory link pipeline, median of {n} runs of 20,000,000 frames")
print(f"  {'case':34} {'ns/pkt':>8} {'Mpps':>7} {'/ plain copy':>13} {'TLEM ns':>8}")
for k, v in med.items():
    frame = k.split("/")[0]
    plain = med.get(frame + "/plain-copy")
    ratio = f"{v / plain:.2f}" if plain and "copy=true" in k else "-"
    print(f"  {k:34} {v:8.1f} {1e3 / v:7.1f} {ratio:>13} {tlem.get(k, '-'):>8}")
PY
