package tx

import (
	"net/netip"
	"runtime"
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
// discipline and with PACKET_QDISC_BYPASS.
func BenchmarkPacketSend(b *testing.B) {
	v := newVeth(b)
	for _, c := range []struct {
		name  string
		mode  PacketMode
		batch int
	}{
		{"sendto", PacketSendto, 1},
		{"sendmmsg-1", PacketSendmmsg, 1},
		{"sendmmsg-8", PacketSendmmsg, 8},
		{"sendmmsg-64", PacketSendmmsg, 64},
		{"sendmmsg-512", PacketSendmmsg, 512},
		{"ring-1", PacketRing, 1},
		{"ring-64", PacketRing, 64},
		{"ring-512", PacketRing, 512},
	} {
		for _, bypass := range []bool{false, true} {
			name := c.name + "/qdisc"
			if bypass {
				name = c.name + "/bypass"
			}
			b.Run(name, func(b *testing.B) {
				p := v.newPacket(b, PacketConfig{Mode: c.mode, Batch: c.batch, QdiscBypass: bypass, MaxFrame: 60}, packetOptions{})
				benchSink(b, p)
			})
		}
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
