#!/usr/bin/env bash
# Wake-up accuracy of labrun's timers against cyclictest (rt-tests) on the
# same work: N periodic wake-ups at a fixed interval, SCHED_OTHER, memory
# locked, /dev/cpu_dma_latency held at 0 (cyclictest does so by default),
# medians over REPS runs of each. cyclictest sleeps with an absolute
# clock_nanosleep at the default timer slack; its latency is labrun's
# epsilon (actual - due). Usage: bench/timers.sh [N] [REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
REPS=${2:-3}
LABRUN=${LABRUN:-bin/labrun}
command -v cyclictest >/dev/null || { echo "cyclictest not found: run 'make bench-deps' (apt-get install rt-tests)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "-"; else print a[int((NR+1)/2)]}'; }

# cyclictest's histogram (1 us buckets) -> p50 p99 max in us.
cyc_stats() {
  awk '/^[0-9]+/ {c[$1+0]=$2; n+=$2} /# Max Latencies/ {mx=$NF+0}
       END {s=0; p50=-1; p99=-1; for (i=0;i<=20000;i++) {s+=c[i]; if (p50<0 && s>=0.5*n) p50=i; if (p99<0 && s>=0.99*n) p99=i}
            print p50, p99, mx}' "$1"
}

printf '%-11s %-8s %8s %10s %10s %10s %8s\n' tool mode interval "p50 (us)" "p99 (us)" "max (us)" "CPU %"
for iv in 70 2500; do
  : >"$tmp/cyc"
  for r in $(seq "$REPS"); do
    TIMEFORMAT='%P'
    cpu=$( { time cyclictest -q -m -i "$iv" -l "$N" -h 20000 >"$tmp/h" 2>/dev/null; } 2>&1 )
    echo "$(cyc_stats "$tmp/h") $cpu" >>"$tmp/cyc"
  done
  printf '%-11s %-8s %8s %10s %10s %10s %8s\n' cyclictest abs-sleep "${iv}us" \
    "$(cut -d' ' -f1 "$tmp/cyc" | median)" "$(cut -d' ' -f2 "$tmp/cyc" | median)" \
    "$(cut -d' ' -f3 "$tmp/cyc" | median)" "$(cut -d' ' -f4 "$tmp/cyc" | median)"
  for r in $(seq "$REPS"); do
    "$LABRUN" run experiments/usleep_vs_firm.star --quiet --allow-system --set interval="${iv}us" --set packets="$N" -o "$tmp/lr$iv-$r" >/dev/null
  done
  for mode in busy sleep firm; do
    for col in err_p50_us err_p99_us err_max_us cpu_pct; do
      cat "$tmp"/lr"$iv"-*/usleep_vs_firm/*/runs.csv | awk -F, -v m="$mode" -v c="$col" '
        /^id,/ {for (i=1;i<=NF;i++) h[$i]=i; next} $h["timer"]==m {printf "%.3g\n", $h[c]}' | median >"$tmp/$col"
    done
    printf '%-11s %-8s %8s %10s %10s %10s %8s\n' labrun "$mode" "${iv}us" \
      "$(cat "$tmp/err_p50_us")" "$(cat "$tmp/err_p99_us")" "$(cat "$tmp/err_max_us")" "$(cat "$tmp/cpu_pct")"
  done
done
echo "medians of $REPS runs of $N wake-ups each; max is the median of the runs' maxima"
