#!/usr/bin/env bash
# Frames per second on a veth pair, measured at one receiver in another
# network namespace: labrun (one thread; a thread per CPU) against
# tcpreplay --topspeed and trafgen (one and two processes), the same
# 64 B and 1500 B frames, in one invocation, REPS times; prints each
# sender's median and its ratio to tcpreplay and to trafgen.
# Needs root (namespaces). Usage: bench/wire.sh [FRAMES] [REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
FRAMES=${1:-1000000}
REPS=${2:-3}
LABRUN=${LABRUN:-bin/labrun}
if [ "$(id -u)" != 0 ]; then echo "bench/wire.sh: skipped: needs root (network namespaces)"; exit 0; fi
for t in tcpreplay trafgen; do
  command -v $t >/dev/null || { echo "$t not found: run 'make test-deps' (apt-get install tcpreplay netsniff-ng)"; exit 1; }
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for r in $(seq "$REPS"); do
  "$LABRUN" run experiments/replay_vs_tcpreplay.star --set workload=topspeed --set frames="$FRAMES" -o "$out" --quiet >/dev/null
done
# runs.csv: one row per run; collect rx_all_pps per (sender, frame).
python3 - "$out" <<'PY'
import csv, glob, statistics, sys
vals = {}
for f in glob.glob(sys.argv[1] + "/replay_vs_tcpreplay/*/runs.csv"):
    for r in csv.DictReader(open(f)):
        if r.get("rx_all_pps"):
            vals.setdefault((r["frame"], r["sender"]), []).append(float(r["rx_all_pps"]))
for frame in sorted({k[0] for k in vals}, key=lambda s: int(s.rstrip("B"))):
    med = {s: statistics.median(v) for (fr, s), v in vals.items() if fr == frame}
    n = len(next(iter(vals.values())))
    print(f"{frame} frames, median of {n} runs (frames/s at the receiver)")
    print(f"  {'sender':24} {'median':>10} {'/ tcpreplay':>12} {'/ trafgen 1':>12} {'/ trafgen 2':>12}")
    for s, m in med.items():
        def ratio(ref):
            return f"{m / med[ref]:.2f}" if med.get(ref) else "-"
        print(f"  {s:24} {m:10.0f} {ratio('tcpreplay topspeed'):>12} {ratio('trafgen 1 proc'):>12} {ratio('trafgen 2 procs'):>12}")
PY
