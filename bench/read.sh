#!/usr/bin/env bash
# Packets per second of labrun's capture readers against tcpdump reading
# the same file: a deterministic pcap of N 64-byte frames (labrun trace gen),
# warm in the page cache, read by `tcpdump -r FILE -w /dev/null` and by
# bench/readcap with the mmap reader and the buffered (pcapgo) one. Each
# command is timed as a whole process, medians of RUNS runs (hyperfine if
# installed, else date +%s%N). Prints the medians, packets per second and
# the ratio labrun mmap pkts/s / tcpdump pkts/s.
# Usage: bench/read.sh [N] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
RUNS=${2:-5}
export GOFLAGS=${GOFLAGS:--mod=mod}
command -v tcpdump >/dev/null || { echo "tcpdump not found: apt-get install tcpdump"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

LABRUN=${LABRUN:-bin/labrun}
go build -o "$tmp/readcap" ./bench/readcap
cap="$tmp/bench.pcap"
"$LABRUN" trace gen "$cap" --count "$N" --interval 1us >/dev/null
cat "$cap" >/dev/null # warm the page cache
got=$("$tmp/readcap" "$cap" | awk '{print $2}')
[ "$got" = "$N" ] || { echo "readcap counted $got packets, want $N"; exit 1; }

names=(tcpdump labrun-mmap labrun-buffered)
cmds=("tcpdump -r $cap -w /dev/null" "$tmp/readcap -reader mmap $cap" "$tmp/readcap -reader buffered $cap")
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A med # seconds
if command -v hyperfine >/dev/null; then
  hyperfine --warmup 1 --runs "$RUNS" --export-json "$tmp/h.json" --style none \
    -n tcpdump "${cmds[0]} 2>/dev/null" -n labrun-mmap "${cmds[1]}" -n labrun-buffered "${cmds[2]}" >/dev/null
  i=0
  for m in $(grep -o '"median": *[0-9.e+-]*' "$tmp/h.json" | awk -F: '{print $2}'); do
    med[${names[$i]}]=$m
    i=$((i + 1))
  done
  how="hyperfine, $RUNS runs after 1 warm-up"
else
  for i in 0 1 2; do
    eval "${cmds[$i]}" >/dev/null 2>&1 # warm-up
    for _ in $(seq "$RUNS"); do
      t0=$(date +%s%N)
      eval "${cmds[$i]}" >/dev/null 2>&1
      t1=$(date +%s%N)
      echo $(((t1 - t0))) | awk '{print $1 / 1e9}'
    done | median >"$tmp/m"
    med[${names[$i]}]=$(cat "$tmp/m")
  done
  how="date +%s%N, $RUNS runs after 1 warm-up (hyperfine not found: apt-get install hyperfine)"
fi

printf '%-16s %12s %14s %10s\n' reader "median (ms)" "pkts/s" "ns/pkt"
for n in "${names[@]}"; do
  awk -v n="$n" -v s="${med[$n]}" -v p="$N" 'BEGIN {printf "%-16s %12.1f %14.0f %10.1f\n", n, s * 1000, p / s, s * 1e9 / p}'
done
awk -v a="${med[labrun-mmap]}" -v b="${med[tcpdump]}" -v c="${med[labrun-buffered]}" 'BEGIN {
  printf "ratio labrun-mmap / tcpdump pkts/s: %.2f (buffered / tcpdump: %.2f)\n", b / a, b / c }'
echo "$N packets of 64 bytes, $(stat -c %s "$cap") bytes, warm page cache; whole processes timed with $how"
