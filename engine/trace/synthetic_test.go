package trace

import (
	"bytes"
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
	for _, seq := range []uint64{0xffff, 0x10000, 0xfffffffe, 1<<48 + 0xffff, 1<<64 - 1} {
		s.fill(0, seq, &p)
		if got, _ := SeqOf(p.Frame); got != seq {
			t.Fatalf("seq %d read back as %d", seq, got)
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
	s, err := NewSynthetic(10_000, 1, 64, DefaultEndpoints())
	if err != nil {
		t.Fatal(err)
	}
	var p Packet
	if n := testing.AllocsPerRun(1000, func() { s.Next(&p) }); n != 0 {
		t.Fatalf("Next allocates %v", n)
	}
}

func BenchmarkSyntheticNext(b *testing.B) {
	s, err := NewSynthetic(1<<20, 1, 64, DefaultEndpoints())
	if err != nil {
		b.Fatal(err)
	}
	var p Packet
	b.ReportAllocs()
	for b.Loop() {
		if !s.Next(&p) {
			s.Rewind()
		}
	}
}

// Sizes and gaps cycle as Caliper's -L and -D files do; every frame keeps
// valid lengths and checksums whatever its size.
func TestSynthSizesAndGaps(t *testing.T) {
	s, err := NewSynth(SynthConfig{Count: 7, Gaps: []int64{10, 20, 30}, Sizes: []int{64, 1518, 100}, Endpoints: DefaultEndpoints()})
	if err != nil {
		t.Fatal(err)
	}
	wantOff := []int64{0, 10, 30, 60, 70, 90, 120}
	wantSize := []int{64, 1518, 100, 64, 1518, 100, 64}
	var p Packet
	for i := 0; s.Next(&p); i++ {
		if p.Offset != wantOff[i] || len(p.Frame) != wantSize[i]-FCSLen {
			t.Fatalf("packet %d: offset %d size %d, want %d %d", i, p.Offset, len(p.Frame)+FCSLen, wantOff[i], wantSize[i])
		}
		verifyUDP(t, p.Frame)
	}
}

// A duration bounds the stream instead of a count; Poisson gaps are
// deterministic from the seed and have about the requested mean.
func TestSynthDurationAndPoisson(t *testing.T) {
	s, err := NewSynth(SynthConfig{Duration: 1000, Interval: 300, FrameSize: 64, Endpoints: DefaultEndpoints()})
	if err != nil || s.Len() != 4 { // offsets 0, 300, 600, 900
		t.Fatalf("len %d, err %v", s.Len(), err)
	}
	mk := func(seed uint64) []int64 {
		s, err := NewSynth(SynthConfig{Count: 20000, Interval: 1000, Poisson: true, Seed: seed, FrameSize: 64, Endpoints: DefaultEndpoints()})
		if err != nil {
			t.Fatal(err)
		}
		return s.offsets
	}
	a, b, c := mk(1), mk(1), mk(2)
	if a[19999] != b[19999] || a[19999] == c[19999] {
		t.Fatalf("same seed must give the same schedule, another seed another one: %d %d %d", a[19999], b[19999], c[19999])
	}
	if mean := float64(a[19999]) / 19999; mean < 950 || mean > 1050 {
		t.Fatalf("mean gap %.1f, want about 1000", mean)
	}
	for _, bad := range []SynthConfig{
		{FrameSize: 64}, // neither count nor duration
		{Count: 1, FrameSize: 64, Gaps: []int64{-1}}, // a negative gap
		{Count: 1, Sizes: []int{64, 63}},             // a size below the Ethernet minimum
		{Duration: 10, FrameSize: 64},                // a duration with zero gaps never ends
	} {
		if _, err := NewSynth(bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// A part of a synthetic stream (Part) yields, in order and byte for byte,
// the packets of the whole stream whose FlowPart is that part, after a
// Rewind too; together the parts yield every packet once.
func TestSyntheticPart(t *testing.T) {
	for _, c := range []struct{ flows, parts int }{{2, 2}, {4, 2}, {3, 2}, {6, 3}, {1, 2}} {
		cfg := SynthConfig{Count: 500, Interval: 1000, Sizes: []int{64, 1518, 200}, Flows: c.flows, Endpoints: DefaultEndpoints()}
		whole, err := NewSynth(cfg)
		if err != nil {
			t.Fatal(err)
		}
		want := make([][][]byte, c.parts)
		var p Packet
		for whole.Next(&p) {
			k := FlowPart(p.Frame, c.parts)
			want[k] = append(want[k], append([]byte(nil), p.Frame...))
		}
		total := 0
		for k := range c.parts {
			part, err := NewSynth(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !part.Part(k, c.parts) {
				t.Fatalf("flows %d: Part(%d, %d) refused", c.flows, k, c.parts)
			}
			for pass := range 2 {
				n := 0
				for part.Next(&p) {
					if n >= len(want[k]) || !bytes.Equal(p.Frame, want[k][n]) {
						t.Fatalf("flows %d, part %d/%d, pass %d: packet %d differs from the whole stream's", c.flows, k, c.parts, pass, n)
					}
					n++
				}
				if n != len(want[k]) {
					t.Fatalf("flows %d, part %d/%d: %d packets, want %d", c.flows, k, c.parts, n, len(want[k]))
				}
				part.Rewind()
			}
			total += len(want[k])
		}
		if total != 500 {
			t.Fatalf("flows %d: parts hold %d packets, want 500", c.flows, total)
		}
	}
}
