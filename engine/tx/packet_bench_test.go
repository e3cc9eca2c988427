package tx

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// benchSink sends 60-byte frames through s from a locked thread (as the
// replay loop does) and reports packets per second and allocations.
func benchSink(b *testing.B, s Sink) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	frame := numbered(1)
	if _, ok := s.(*UDP); ok {
		frame = udpFrame(1, 14, 0, false)
	}
	bt, _ := s.(Batcher)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Send(frame, 0); err != nil {
			b.Fatal(err)
		}
	}
	if bt != nil {
		if err := bt.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	st := s.Stats()
	if st.Errors != 0 || st.Packets != int64(b.N) {
		b.Fatalf("stats %+v after %d sends", st, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pps")
	b.ReportMetric(float64(st.Retries)/float64(b.N), "retries/op")
	b.ReportMetric(float64(st.Syscalls)/float64(b.N), "syscalls/op")
}

// BenchmarkPacketSend sends 60-byte frames on a veth pair in private
// namespaces (nothing listens on the peer), through the queueing
// discipline and with PACKET_QDISC_BYPASS; the ring with and without
// Linear.
func BenchmarkPacketSend(b *testing.B) {
	v := newVeth(b)
	for _, c := range []struct {
		name   string
		mode   PacketMode
		batch  int
		linear bool
	}{
		{"sendto", PacketSendto, 1, false},
		{"sendmmsg-1", PacketSendmmsg, 1, false},
		{"sendmmsg-8", PacketSendmmsg, 8, false},
		{"sendmmsg-64", PacketSendmmsg, 64, false},
		{"sendmmsg-512", PacketSendmmsg, 512, false},
		{"ring-1", PacketRing, 1, false},
		{"ring-64", PacketRing, 64, false},
		{"ring-512", PacketRing, 512, false},
		{"ring-64-linear", PacketRing, 64, true},
		{"ring-512-linear", PacketRing, 512, true},
	} {
		for _, bypass := range []bool{false, true} {
			name := c.name + "/qdisc"
			if bypass {
				name = c.name + "/bypass"
			}
			b.Run(name, func(b *testing.B) {
				p := v.newPacket(b, PacketConfig{Mode: c.mode, Batch: c.batch, QdiscBypass: bypass, MaxFrame: 60, Linear: c.linear}, packetOptions{})
				benchSink(b, p)
			})
		}
	}
}

// BenchmarkXDPSend sends 60-byte frames on the same veth through an
// AF_XDP socket in copy mode, a kick every 32, 64 and 512 frames (32 is
// the kernel's default number a call takes); compare with
// BenchmarkPacketSend/ring-512-linear/bypass. A socket per case: a queue
// takes one XDP socket, and a closed one frees it only later.
func BenchmarkXDPSend(b *testing.B) {
	for _, batch := range []int{32, 64, 512} {
		b.Run(fmt.Sprintf("batch-%d", batch), func(b *testing.B) {
			v := newVeth(b)
			x := v.newXDP(b, XDPConfig{Batch: batch, MaxFrame: 60})
			benchSink(b, x)
		})
	}
}

// BenchmarkPacketSendOptions measures the choices NewPacket makes:
// unix.RawSyscall6 against unix.Syscall6 for the MSG_DONTWAIT sends, ring
// kicks that wait for the frames to leave against MSG_DONTWAIT kicks, and
// TPACKET_V3 against TPACKET_V2 slots. All with qdisc bypass.
func BenchmarkPacketSendOptions(b *testing.B) {
	v := newVeth(b)
	for _, c := range []struct {
		name  string
		mode  PacketMode
		batch int
		opt   packetOptions
	}{
		{"sendto/raw", PacketSendto, 1, packetOptions{}},
		{"sendto/syscall", PacketSendto, 1, packetOptions{blocking: true}},
		{"sendmmsg-64/raw", PacketSendmmsg, 64, packetOptions{}},
		{"sendmmsg-64/syscall", PacketSendmmsg, 64, packetOptions{blocking: true}},
		{"ring-64/v2-dontwait-raw", PacketRing, 64, packetOptions{}},
		{"ring-64/v2-dontwait-syscall", PacketRing, 64, packetOptions{blocking: true}},
		{"ring-64/v2-wait", PacketRing, 64, packetOptions{kickWait: true}},
		{"ring-64/v3-dontwait-raw", PacketRing, 64, packetOptions{version: unix.TPACKET_V3}},
		{"ring-512/v2-dontwait-raw", PacketRing, 512, packetOptions{}},
		{"ring-512/v2-wait", PacketRing, 512, packetOptions{kickWait: true}},
		{"ring-512/v3-dontwait-raw", PacketRing, 512, packetOptions{version: unix.TPACKET_V3}},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := v.newPacket(b, PacketConfig{Mode: c.mode, Batch: c.batch, QdiscBypass: true, MaxFrame: 60}, c.opt)
			benchSink(b, p)
		})
	}
}

// BenchmarkUDPSend sends 18-byte payloads (60-byte frames) to a socket on
// the peer that is never read: once its receive buffer is full the kernel
// drops there, so the benchmark measures the sender, not a reader.
func BenchmarkUDPSend(b *testing.B) {
	v := newVeth(b)
	if err := v.b.do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		b.Cleanup(func() { unix.Close(fd) })
		return unix.Bind(fd, &unix.SockaddrInet4{Port: 9200, Addr: [4]byte{198, 18, 0, 2}})
	}); err != nil {
		b.Fatal(err)
	}
	for _, batch := range []int{1, 64} {
		b.Run("batch-"+itoa(batch), func(b *testing.B) {
			var u *UDP
			if err := v.a.do(func() (err error) {
				u, err = NewUDP(UDPConfig{Dst: netip.MustParseAddrPort(addrB + ":9200"), Batch: batch})
				return err
			}); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = u.Close() })
			benchSink(b, u)
		})
	}
}

// BenchmarkPacketRingRPS is the topspeed set-up of the wire experiments:
// the sending thread on CPU 1, the receive work on the peer steered to
// CPU 0 (RPS), so the send buffer fills whenever CPU 0 falls behind and
// ring kicks must wait for room. It compares the TX ring (frames go out as
// page fragments of the ring) with sendmmsg (frames copied into linear
// buffers, the shape AF_XDP's copy mode also builds), for 60-byte and
// 1514-byte IPv4/UDP frames (RPS needs a flow hash), in one invocation,
// and reports where a frame's CPU time goes.
func BenchmarkPacketRingRPS(b *testing.B) {
	if runtime.NumCPU() < 2 {
		b.Skip("needs 2 CPUs: sender on CPU 1, receive work on CPU 0")
	}
	v := newVeth(b)
	if err := v.b.do(func() error {
		// sysfs shows the namespace it was mounted in: mount one in a
		// private mount namespace to reach b's queue.
		out, err := exec.Command("unshare", "-m", "sh", "-c",
			"mount -t sysfs sysfs /sys && printf 1 > /sys/class/net/b/queues/rx-0/rps_cpus").CombinedOutput()
		if err != nil {
			return fmt.Errorf("setting RPS on b: %v: %s", err, out)
		}
		return nil
	}); err != nil {
		b.Skip(err)
	}
	for _, size := range []int{60, 1514} {
		for _, c := range []struct {
			name  string
			mode  PacketMode
			batch int
		}{{"ring-512", PacketRing, 512}, {"sendmmsg-64", PacketSendmmsg, 64}, {"sendmmsg-512", PacketSendmmsg, 512}} {
			b.Run(fmt.Sprintf("%dB/%s", size, c.name), func(b *testing.B) {
				p := v.newPacket(b, PacketConfig{Mode: c.mode, Batch: c.batch, QdiscBypass: true, MaxFrame: size}, packetOptions{})
				frame := udpFrame(1, size-46, 0, false)
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				var old, one unix.CPUSet
				if err := unix.SchedGetaffinity(0, &old); err != nil {
					b.Fatal(err)
				}
				one.Set(1)
				if err := unix.SchedSetaffinity(0, &one); err != nil {
					b.Fatal(err)
				}
				defer unix.SchedSetaffinity(0, &old)
				b.ReportAllocs()
				u0, s0 := threadCPU(b)
				q0 := softirqNS(b, 0)
				for b.Loop() {
					if err := p.Send(frame, 0); err != nil {
						b.Fatal(err)
					}
				}
				if err := p.Flush(); err != nil {
					b.Fatal(err)
				}
				u1, s1 := threadCPU(b)
				q1 := softirqNS(b, 0)
				st := p.Stats()
				if st.Errors != 0 || st.Packets != int64(b.N) {
					b.Fatalf("stats %+v after %d sends", st, b.N)
				}
				n := float64(b.N)
				b.ReportMetric(n/b.Elapsed().Seconds(), "pps")
				b.ReportMetric(float64(st.Retries)/n, "retries/op")
				b.ReportMetric(float64(st.Syscalls)/n, "syscalls/op")
				// Where a frame's CPU time goes, however busy the machine:
				// the sending thread in user space and in the kernel (the
				// send call: skb, veth, RPS enqueue), and CPU 0's softirq
				// time (the receive work, plus whatever else runs there).
				b.ReportMetric(float64(u1-u0)/n, "user-ns/op")
				b.ReportMetric(float64(s1-s0)/n, "sys-ns/op")
				b.ReportMetric(float64(q1-q0)/n, "cpu0-softirq-ns/op")
			})
		}
	}
}

// threadCPU is the calling thread's user and system CPU time, ns.
func threadCPU(tb testing.TB) (user, sys int64) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		tb.Fatal(err)
	}
	return ru.Utime.Nano(), ru.Stime.Nano()
}

// softirqNS is the time CPU cpu has spent in softirqs (/proc/stat), ns.
func softirqNS(tb testing.TB, cpu int) int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		tb.Fatal(err)
	}
	prefix := fmt.Sprintf("cpu%d ", cpu)
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); strings.HasPrefix(l, prefix) && len(f) > 7 {
			ticks, _ := strconv.ParseInt(f[7], 10, 64)
			return ticks * 1e7 // USER_HZ is 100
		}
	}
	tb.Fatalf("/proc/stat has no %q line", prefix)
	return 0
}
