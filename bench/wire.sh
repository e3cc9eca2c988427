#!/usr/bin/env bash
# Frames per second on a veth pair, measured at one receiver in another
# network namespace: labrun (one thread; a thread per CPU) against
# tcpreplay --topspeed and trafgen (one and two processes), the same
# 64 B and 1500 B frames, in one invocation, REPS times; prints each
# sender's median and its ratio to tcpreplay and to trafgen. Each
# invocation is followed by bench/peers.sh (the peers alone, the same
# frames and topology), so each peer's figure inside labrun is printed
# next to its figure alone, measured at the same times (PEERS_ALONE=0
# skips that).
# Each invocation runs the whole sequence REPEAT times, interleaved
# (experiment(repeat = ...)), and takes each sender's median: the host
# takes the CPUs away in phases of seconds, and one run per sender per
# invocation let a phase decide a ratio. The figure reported is the
# median of the REPS invocations' medians.
# Needs root (namespaces). Usage: [REPEAT=3] bench/wire.sh [FRAMES] [REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
FRAMES=${1:-1000000}
REPS=${2:-3}
REPEAT=${REPEAT:-3}
LABRUN=${LABRUN:-bin/labrun}
if [ "$(id -u)" != 0 ]; then echo "bench/wire.sh: skipped: needs root (network namespaces)"; exit 0; fi
for t in tcpreplay trafgen; do
  command -v $t >/dev/null || { echo "$t not found: run 'make test-deps' (apt-get install tcpreplay netsniff-ng)"; exit 1; }
done
out=$(mktemp -d)
# KEEP=DIR keeps every run's runs.csv and tables.md (not the traces: the
# 1500 B pcap alone is 1.5 GB at 1,000,000 frames).
keep() {
  [ -n "${KEEP:-}" ] || return 0
  (cd "$out" && find . -name runs.csv -o -name tables.md -o -name alone.csv | while read -r f; do
    mkdir -p "$KEEP/$(dirname "$f")" && cp "$f" "$KEEP/$f"; done)
}
trap 'keep; rm -rf "$out"' EXIT
for r in $(seq "$REPS"); do
  # A run that fails (trafgen exits on EAGAIN when the receiver falls
  # behind) is reported by labrun and left out; the others count.
  "$LABRUN" run experiments/replay_vs_tcpreplay.star --set workload=topspeed --set frames="$FRAMES" --set repeat="$REPEAT" -o "$out" --quiet >/dev/null ||
    echo "bench/wire.sh: invocation $r: some runs failed (above); medians are of the others"
  # The peers' capture files (1.5 GB a run at 1500 B) are not needed again.
  rm -rf "$out"/replay_vs_tcpreplay/*/traces
  if [ "${PEERS_ALONE:-1}" != 0 ]; then
    PEERS_CSV="$out/alone.csv" bench/peers.sh "$FRAMES" 1 >/dev/null
  fi
done
# runs.csv: one row per run, one file per invocation; each invocation's
# median rx_all_pps per (sender, frame), then the median of those.
python3 - "$out" "$REPEAT" <<'PY'
import csv, glob, os, statistics, sys
vals = {}
for f in sorted(glob.glob(sys.argv[1] + "/replay_vs_tcpreplay/*/runs.csv")):
    inv = {}
    for r in csv.DictReader(open(f)):
        if r.get("rx_all_pps"):
            inv.setdefault((r["frame"], r["sender"]), []).append(float(r["rx_all_pps"]))
    for k, v in inv.items():
        vals.setdefault(k, []).append(statistics.median(v))
for frame in sorted({k[0] for k in vals}, key=lambda s: int(s.rstrip("B"))):
    med = {s: statistics.median(v) for (fr, s), v in vals.items() if fr == frame}
    n = len(next(iter(vals.values())))
    print(f"{frame} frames, median of {n} invocations, each the median of {sys.argv[2]} interleaved runs (frames/s at the receiver)")
    print(f"  {'sender':24} {'median':>10} {'/ tcpreplay':>12} {'/ trafgen 1':>12} {'/ trafgen 2':>12}")
    for s, m in med.items():
        def ratio(ref):
            return f"{m / med[ref]:.2f}" if med.get(ref) else "-"
        print(f"  {s:24} {m:10.0f} {ratio('tcpreplay topspeed'):>12} {ratio('trafgen 1 proc'):>12} {ratio('trafgen 2 procs'):>12}")
    print("  each invocation's median, in order:")
    for s in med:
        print(f"    {s:22} " + " ".join(f"{x / 1e6:.3f}" for x in vals[(frame, s)]))
alone = {}
path = os.path.join(sys.argv[1], "alone.csv")
if os.path.exists(path):
    names = {"tcpreplay": "tcpreplay topspeed", "trafgen1": "trafgen 1 proc", "trafgen2": "trafgen 2 procs"}
    for peer, size, pps in csv.reader(open(path)):
        alone.setdefault((size + "B", names[peer]), []).append(float(pps))
    print("peers inside labrun's table and alone (bench/peers.sh), medians (frames/s at the receiver)")
    print(f"  {'peer':24} {'frame':>6} {'in labrun':>10} {'alone':>10} {'in / alone':>11}")
    for (frame, s), v in sorted(alone.items()):
        inside = vals.get((frame, s))
        a = statistics.median(v)
        i = statistics.median(inside) if inside else None
        r = f"{i / a:.2f}" if i and a else "-"
        print(f"  {s:24} {frame:>6} {i or 0:10.0f} {a:10.0f} {r:>11}")
PY
