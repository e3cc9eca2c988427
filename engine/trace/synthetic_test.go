package trace

import (
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// verifyUDP decodes a frame and checks its IPv4 and UDP checksums by
// re-serialising it with computed checksums.
func verifyUDP(t *testing.T, frame []byte) {
	t.Helper()
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		t.Fatalf("decode: %v", el.Error())
	}
	ip := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	udp := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
	want := udp.Checksum
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, udp, gopacket.Payload(udp.Payload)); err != nil {
		t.Fatal(err)
	}
	got := uint16(buf.Bytes()[6])<<8 | uint16(buf.Bytes()[7])
	if got == 0 {
		got = 0xffff
	}
	if got != want {
		t.Fatalf("UDP checksum %#04x, recomputed %#04x", want, got)
	}
	if int(ip.Length) != len(frame)-14 || int(udp.Length) != len(frame)-34 {
		t.Fatalf("lengths ip %d udp %d for frame %d", ip.Length, udp.Length, len(frame))
	}
}

func TestSyntheticFrames(t *testing.T) {
	for _, tc := range []struct {
		name  string
		size  int
		count int
	}{
		{"minimum Ethernet frame", 64, 3},
		{"full MTU frame", 1518, 2},
		{"jumbo frame", 9000, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSynthetic(tc.count, 70_000, tc.size, DefaultEndpoints())
			if err != nil {
				t.Fatal(err)
			}
			var p Packet
			for i := 0; s.Next(&p); i++ {
				if len(p.Frame) != tc.size-FCSLen {
					t.Fatalf("frame length %d, want %d", len(p.Frame), tc.size-FCSLen)
				}
				if p.Offset != int64(i)*70_000 || p.Seq != uint64(i) {
					t.Fatalf("packet %d: offset %d seq %d", i, p.Offset, p.Seq)
				}
				if seq, ok := SeqOf(p.Frame); !ok || seq != uint64(i) {
					t.Fatalf("SeqOf = %d, %v", seq, ok)
				}
				verifyUDP(t, p.Frame)
			}
		})
	}
}

// The incremental checksum must hold for sequence numbers that carry into
// every 16-bit word.
func TestSyntheticChecksumLargeSeq(t *testing.T) {
	s, err := NewSynthetic(1, 1, 64, DefaultEndpoints())
	if err != nil {
		t.Fatal(err)
	}
	var p Packet
	for _, seq := range []int{0xffff, 0x10000, 0xfffffffe, 1<<48 + 0xffff, 1<<62 - 1} {
		s.next, s.count = seq, seq+1
		if !s.Next(&p) {
			t.Fatal("no packet")
		}
		verifyUDP(t, p.Frame)
	}
}

func TestSyntheticErrors(t *testing.T) {
	for _, tc := range []struct {
		name        string
		count, size int
		interval    int64
	}{
		{"no packets", 0, 64, 1},
		{"frame below Ethernet minimum", 1, 63, 1},
		{"frame above jumbo maximum", 1, MaxFrame + 1, 1},
		{"negative interval", 1, 64, -1},
	} {
		if _, err := NewSynthetic(tc.count, tc.interval, tc.size, DefaultEndpoints()); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestSyntheticNextDoesNotAllocate(t *testing.T) {
	s, _ := NewSynthetic(1<<30, 1, 64, DefaultEndpoints())
	var p Packet
	if n := testing.AllocsPerRun(1000, func() { s.Next(&p) }); n != 0 {
		t.Fatalf("Next allocates %v", n)
	}
}

func BenchmarkSyntheticNext(b *testing.B) {
	s, _ := NewSynthetic(1<<62, 1, 64, DefaultEndpoints())
	var p Packet
	b.ReportAllocs()
	for b.Loop() {
		s.Next(&p)
	}
}
