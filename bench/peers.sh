#!/usr/bin/env bash
# The peers of experiments/replay_vs_tcpreplay.star's topspeed table, each
# run alone with the flags its documentation recommends, on the topology
# labrun builds for that table: two network namespaces, one veth pair
# (198.18.0.1 and .2, the same MACs, MTU 1500, offloads and IPv6 off), no
# receive packet steering: the receive work runs on the sending CPU, inline,
# as a veth does it by default; tcpreplay on the last CPU, trafgen where it
# pins itself (CPU 0); the receiving socket and the counter on a CPU the
# one-CPU sender does not use (CPU 0, or the last CPU beside trafgen's one
# worker), on CPU 0 beside two trafgen workers. Frames are the same as labrun's
# synthetic trace (Ethernet/IPv4/UDP, two flows, "LRUN" and a sequence
# number), 64 B and 1500 B with the FCS.
#
# Frames/s at the receiver = (frames the receiving veth counted - 1) / the
# span from the first to the last of them, as labrun's rx_all_pps; REPS
# repeats, the median printed, with each tool's own figure beside it.
# labrun's receiver is a packet socket on the same veth; here the veth's
# own counter (rx_packets) counts, polled every 0.5 ms, so the span is
# known to about 1 ms (docs/replay-vs-tcpreplay.md, "Peers at their best").
#
# Needs root. Usage: bench/peers.sh [FRAMES] [REPS]   (FRAMES per run)
# Environment: PEERS="tcpreplay trafgen1 trafgen2" (which to run),
# SIZES="64 1500", RECEIVER=socket (a packet socket, tcpdump, captures
# every frame, as labrun's receiver does) or counter (no socket:
# only the veth's counter); TRAFGEN_CPU=own (where trafgen pins its one
# worker: CPU 0) or last (moved to the last CPU, where labrun's one thread
# and tcpreplay run); PEERS_CSV=FILE appends "peer,size,frames/s" for
# every run (bench/wire.sh uses it).
set -euo pipefail
FRAMES=${1:-300000}
REPS=${2:-3}
PEERS=${PEERS:-tcpreplay trafgen1 trafgen2}
SIZES=${SIZES:-64 1500}
RECEIVER=${RECEIVER:-socket}
TRAFGEN_CPU=${TRAFGEN_CPU:-own}
if [ "$(id -u)" != 0 ]; then echo "bench/peers.sh: skipped: needs root (network namespaces)"; exit 0; fi
for t in ip tcpreplay trafgen tcpdump taskset ethtool python3; do
  command -v $t >/dev/null || { echo "bench/peers.sh: $t not found: run 'make test-deps' (apt-get install iproute2 tcpreplay netsniff-ng tcpdump util-linux ethtool)"; exit 1; }
done
NCPU=$(nproc)
LAST=$((NCPU - 1))
S=lr-peers-$$-snd
R=lr-peers-$$-rcv
work=$(mktemp -d)
cleanup() {
  ip netns del "$S" 2>/dev/null || true
  ip netns del "$R" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# The topology (engine/topo: namespaces, veth, addresses, offloads off).
ip netns add "$S"
ip netns add "$R"
for ns in "$S" "$R"; do
  ip netns exec "$ns" sh -c 'echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6; echo 0 > /proc/sys/net/ipv4/ip_forward'
  ip -n "$ns" link set lo up
done
# A transmit and receive queue per CPU on both ends, as the experiment's
# topspeed topology (topology.veth(queues = "cpus")).
NQ=$(nproc)
ip -n "$S" link add snd address 02:6c:72:ff:00:01 mtu 1500 numtxqueues "$NQ" numrxqueues "$NQ" type veth \
  peer name rcv address 02:6c:72:ff:00:02 mtu 1500 numtxqueues "$NQ" numrxqueues "$NQ" netns "$R"
setup_end() { # ns ifname addr
  ip netns exec "$1" sh -c "echo 1 > /proc/sys/net/ipv6/conf/$2/disable_ipv6"
  # Every frame-changing offload off, as labrun does (fixed ones are refused: ignored).
  for f in $(ip netns exec "$1" ethtool -k "$2" | awk -F: '{sub(/^[ \t]+/, "")} /^(tx-checksum|tx-scatter-gather|tx-gso|rx-gro|rx-checksum|rx-lro|rx-udp-gro-forwarding)|-segmentation:/ && $2 ~ /on/ && $2 !~ /fixed/ {print $1}'); do
    ip netns exec "$1" ethtool -K "$2" "$f" off >/dev/null 2>&1 || true
  done
  ip -n "$1" addr add "$3/24" dev "$2"
  ip -n "$1" link set "$2" up
}
setup_end "$S" snd 198.18.0.1
setup_end "$R" rcv 198.18.0.2
for _ in $(seq 200); do # until both ends are up with their real qdisc
  ip -n "$S" link show snd | grep -q 'state UP' && ip -n "$R" link show rcv | grep -q 'state UP' && break
  sleep 0.01
done
rps() { ip netns exec "$R" sh -c "printf %x $1 > /sys/class/net/rcv/queues/rx-0/rps_cpus"; }

# The frames: labrun's synthetic trace, FRAMES frames of SIZE bytes (with FCS).
write_pcap() { # size path
  python3 - "$1" "$FRAMES" "$2" <<'PY'
import struct, sys
size, n, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
flen = size - 4
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b[: len(b) // 2 * 2]))
    if len(b) % 2: s += b[-1] << 8
    while s >> 16: s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF
eth = bytes.fromhex("026c72000002026c720000010800")
with open(path, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1))
    for i in range(n):
        sport = 49152 + i % 2
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, flen - 14, 0, 0x4000, 64, 17, 0, bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2]))
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        payload = b"LRUN" + struct.pack("!Q", i) + bytes(flen - 42 - 12)
        udp = struct.pack("!HHHH", sport, 9, flen - 34, 0)
        pseudo = ip[12:20] + struct.pack("!BBH", 0, 17, flen - 34)
        c = csum(pseudo + udp + payload) or 0xFFFF
        udp = udp[:6] + struct.pack("!H", c)
        f.write(struct.pack("<IIII", i // 1000000, i % 1000000 * 1000, flen, flen))
        f.write(eth + ip + udp + payload)
PY
}
# trafgen's configuration: the first frame, its marker cleared (as labrun's
# engine/peer does: trafgen cannot number frames).
write_cfg() { # pcap cfg
  python3 - "$1" "$2" <<'PY'
import struct, sys
with open(sys.argv[1], "rb") as f:
    f.read(24)
    _, _, incl, _ = struct.unpack("<IIII", f.read(16))
    fr = bytearray(f.read(incl))
fr[42:46] = bytes(4)
with open(sys.argv[2], "w") as f:
    f.write("{\n" + ",\n".join(", ".join("0x%02x" % b for b in fr[i:i + 16]) for i in range(0, len(fr), 16)) + "\n}\n")
PY
}

# The receiver's count: rx_packets of the receiving veth, read every 0.5 ms
# on the receiver's CPU from inside its namespace; the veth counts a frame when it
# queues it for the receive work, the moment labrun's receiver timestamps.
# Prints "<frames> <seconds>" from the first to the last change: the span
# labrun's rx_all_pps divides by. It stops 300 ms after the count last
# moved, or 120 s after it started without a change (a preload of a long
# trace on a busy machine takes a while).
count_rx() { # ready-file cpu
  ip netns exec "$R" taskset -c "$2" python3 - "$1" <<'PY'
import os, sys, time
fd = os.open("/sys/class/net/rcv/statistics/rx_packets", os.O_RDONLY)
rd = lambda: int(os.pread(fd, 32, 0))
base = last = rd()
open(sys.argv[1], "w").close()  # ready: the base is read
t0 = time.monotonic()
first = tlast = None
while True:
    time.sleep(0.0005)
    c, t = rd(), time.monotonic()
    if c != last:
        if first is None:
            first = (last, t)  # frames counted up to the first move
        last, tlast = c, t
    elif (first and t - tlast > 0.3) or (not first and t - t0 > 120):
        break
if first is None or tlast == first[1]:
    print(last - base, 0)
else:
    print(last - first[0], "%.6f" % (tlast - first[1]))
PY
}

# repin PID: waits (at most 2 s) for trafgen's worker, a child of PID, to
# pin itself to CPU 0, then moves it to the last CPU.
repin() {
  local w
  for _ in $(seq 2000); do
    kill -0 "$1" 2>/dev/null || return 0
    w=$(cat "/proc/$1/task/$1/children" 2>/dev/null) || true
    w=${w%% *}
    if [ -n "$w" ] && [ "$(taskset -p -c "$w" 2>/dev/null | sed 's/.*: //')" = 0 ]; then
      taskset -p -c "$LAST" "$w" >/dev/null 2>&1 || true
      return 0
    fi
    sleep 0.001
  done
}

# One run: prints "<frames/s at the receiver> <frames received> <seconds>
# <frames/s the tool reports> <frames captured>". tcpreplay: --topspeed
# --preload-pcap (-K: the trace in memory before the clock starts), -q,
# pinned to the last CPU with taskset (it has no pinning option of its
# own). trafgen: its defaults (TX ring, qdisc bypass, one worker per CPU
# pinned by itself), with --no-sock-mem (-A: leave the system's socket
# memory as it is; in a network namespace trafgen cannot raise it anyway).
run_peer() { # peer size pcap cfg
  local out cnt tool cap= rxcpu=0
  cnt=$work/count
  rps 0
  # The receiver away from a one-CPU sender: trafgen's lone worker pins
  # itself to CPU 0.
  [ "$1" = trafgen1 ] && [ "$TRAFGEN_CPU" = own ] && rxcpu=$LAST
  if [ "$RECEIVER" = socket ]; then
    # A packet socket capturing every frame, as labrun's receiver.
    : >"$work/cap.err"
    ip netns exec "$R" taskset -c "$rxcpu" tcpdump -p -n -q -i rcv -s 96 -B 65536 -w /dev/null 2>"$work/cap.err" &
    cap=$!
    for _ in $(seq 500); do grep -q listening "$work/cap.err" && break; sleep 0.01; done
  fi
  rm -f "$work/ready"
  count_rx "$work/ready" "$rxcpu" >"$cnt" &
  local poller=$!
  for _ in $(seq 500); do [ -e "$work/ready" ] && break; sleep 0.01; done
  case $1 in
  tcpreplay)
    out=$(ip netns exec "$S" taskset -c "$LAST" tcpreplay -q --intf1=snd --topspeed --preload-pcap "$3" 2>&1 | tr -d "\r") || true
    tool=$(sed -n 's/^ *Rated: .* Mbps, \([0-9.]*\) pps.*/\1/p' <<<"$out")
    ;;
  trafgen1 | trafgen2)
    local procs=${1#trafgen}
    ip netns exec "$S" trafgen --in "$4" --out snd --num "$FRAMES" --cpus "$procs" --no-sock-mem >"$work/out" 2>&1 &
    local tg=$!
    # trafgen 0.6.8 pins its first worker to CPU 0 and
    # cannot be told otherwise; TRAFGEN_CPU=last moves a lone worker to the
    # last CPU once it has pinned itself.
    [ "$procs" = 1 ] && [ "$TRAFGEN_CPU" = last ] && repin "$tg"
    wait "$tg" || true
    out=$(tr -d "\r" <"$work/out")
    tool=$(awk '/packets outgoing/ {n += $1} / sec, .* usec on CPU/ {t = $1 + $3 / 1e6; if (t > m) m = t} END {if (m > 0) printf "%.0f", n / m}' <<<"$out")
    ;;
  esac
  wait "$poller"
  local n secs capd=-
  read -r n secs <"$cnt"
  if [ -n "$cap" ]; then
    kill -INT "$cap" 2>/dev/null || true
    wait "$cap" || true
    capd=$(sed -n 's/^\([0-9]*\) packets captured.*/\1/p' "$work/cap.err")
  fi
  if [ -z "$tool" ] || [ "$secs" = 0 ]; then
    echo "bench/peers.sh: $1 (${2}B): failed: the receiver counted $n frames in ${secs}s; the tool's output ends:" >&2
    tail -3 <<<"$out" | sed 's/^/    /' >&2
    return 1
  fi
  awk -v n="$n" -v s="$secs" -v t="$tool" -v c="${capd:--}" 'BEGIN {printf "%.0f %d %s %s %s\n", (n - 1) / s, n, s, t, c}'
}

echo "peers alone on a veth pair, $FRAMES frames per run, median of $REPS, receiver: $RECEIVER (frames/s at the receiver)"
printf '  %-20s %6s %12s %10s %10s  %s\n' peer size 'frames/s' received captured 'runs; the tool says'
for size in $SIZES; do
  pcap=$work/$size.pcap cfg=$work/$size.cfg
  write_pcap "$size" "$pcap"
  # On disk before any run, as labrun's trace writer does (fsync): the
  # writeback of a 1.5 GB pcap must not run beside the timed runs.
  sync "$pcap"
  write_cfg "$pcap" "$cfg"
  for p in $PEERS; do
    vals=() own=() got=- capd=- failed=0
    for _ in $(seq "$REPS"); do
      if line=$(run_peer "$p" "$size" "$pcap" "$cfg"); then
        read -r pps got _ tpps capd <<<"$line"
        vals+=("$pps") own+=("$tpps")
        [ -n "${PEERS_CSV:-}" ] && echo "$p,$size,$pps" >>"$PEERS_CSV"
      else
        failed=$((failed + 1))
      fi
    done
    case $p in
    tcpreplay) name="tcpreplay topspeed" ;;
    trafgen1) name="trafgen 1 proc" ;;
    trafgen2) name="trafgen 2 procs" ;;
    esac
    med=-
    [ ${#vals[@]} -gt 0 ] && med=$(printf '%s\n' "${vals[@]}" | sort -n | awk '{a[NR] = $1} END {printf "%.0f", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')
    note=""
    [ "$failed" -gt 0 ] && note="; $failed of $REPS runs failed"
    printf '  %-20s %5sB %12s %10s %10s  %s; %s%s\n' "$name" "$size" "$med" "$got" "$capd" "${vals[*]}" "${own[*]}" "$note"
  done
done
