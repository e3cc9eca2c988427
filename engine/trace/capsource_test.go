package trace

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	pktframe "github.com/labrun/labrun/engine/frame"
)

func TestSchedule(t *testing.T) {
	ts := []int64{1000, 1500, 1400, 3400} // the third goes backwards
	wire := []int{60, 1514, 60, 60}
	for _, tc := range []struct {
		name   string
		t      Timing
		want   []int64
		period int64
		back   int
	}{
		// The trace's own gaps; a backwards timestamp keeps its place with gap 0.
		{"own pace", Timing{}, []int64{0, 500, 500, 2500}, 2500 + 2500/3, 1},
		// Twice as fast halves every gap.
		{"speed 2", Timing{Speed: 2}, []int64{0, 250, 250, 1250}, 1250 + 1250/3, 1},
		// 1 Mpps: 1 us apart, whatever the timestamps say.
		{"fixed pps", Timing{PPS: 1e6}, []int64{0, 1000, 2000, 3000}, 4000, 0},
		// 1 Gbps at L2: a 60 B frame + FCS = 512 ns, 1514 B + FCS = 12144 ns.
		{"rate L2", Timing{BPS: 1e9}, []int64{0, 512, 12656, 13168}, 13168 + 512, 0},
		// At L1 add preamble, SFD and gap: 84 B = 672 ns for a minimum frame.
		{"rate L1", Timing{BPS: 1e9, L1: true}, []int64{0, 672, 672 + 12304, 672 + 12304 + 672}, 672 + 12304 + 672 + 672, 0},
		// Topspeed: every packet due at once.
		{"topspeed", Timing{Topspeed: true}, []int64{0, 0, 0, 0}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := schedule(ts, wire, tc.t)
			off, period, back := sc.offsets, sc.period, sc.backwards
			if !slices.Equal(off, tc.want) || period != tc.period || back != tc.back {
				t.Fatalf("offsets %v period %d backwards %d; want %v %d %d", off, period, back, tc.want, tc.period, tc.back)
			}
		})
	}
}

// sharedTrace is the path of a test capture; a missing one fails the test.
func sharedTrace(t *testing.T, name string) string {
	p := filepath.Join(tracesDir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("test capture %s: %v", p, err)
	}
	return p
}

// Replaying a real capture: every Ethernet packet in order, offsets from
// its timestamps, loops continuing the schedule, read latency recorded.
func TestCaptureSourceReplay(t *testing.T) {
	path := sharedTrace(t, "tcpreplay-test.pcap")
	for _, reader := range []string{"mmap", "buffered"} {
		s, err := NewCaptureSource(path, CaptureOptions{Read: ReadOptions{Reader: reader}, Timing: Timing{Loops: 2}, RecordReadLatency: true})
		if err != nil {
			t.Fatal(err)
		}
		sum, err := Scan(path, ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if s.Len() != 2*179 || s.Stats().Sent != 179 || sum.Packets != 179 {
			t.Fatalf("%s: len %d, stats %+v", reader, s.Len(), s.Stats())
		}
		var p Packet
		var last int64 = -1
		n := 0
		for s.Next(&p) {
			if p.Offset < last {
				t.Fatalf("%s: packet %d offset %d before %d", reader, n, p.Offset, last)
			}
			last = p.Offset
			n++
		}
		if n != 358 || s.Err() != nil {
			t.Fatalf("%s: %d packets, err %v", reader, n, s.Err())
		}
		// The first pass spans the trace's duration exactly.
		if s.offsets[178] != sum.Duration {
			t.Fatalf("%s: last offset %d, trace duration %d", reader, s.offsets[178], sum.Duration)
		}
		if len(s.ReadLatency()) != 358 {
			t.Fatalf("read latencies: %d", len(s.ReadLatency()))
		}
		s.Close()
	}
}

// With payload zeroing, frames that cannot be transformed (ARP, other
// non-IP) are left out and counted; the rest arrive zeroed with valid
// checksums; the caller's Transformer counts only the timed pass.
func TestCaptureSourceZeroPayload(t *testing.T) {
	path := sharedTrace(t, "tcpreplay-test.pcap")
	x := &pktframe.Transformer{Zero: true}
	s, err := NewCaptureSource(path, CaptureOptions{Transform: x})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st := s.Stats()
	if st.Untransformable == 0 || st.Sent+st.Untransformable != 179 {
		t.Fatalf("stats %+v", st)
	}
	var p Packet
	n := 0
	for s.Next(&p) {
		if err := pktframe.VerifyChecksums(pktframe.LinkEthernet, p.Frame); err != nil {
			t.Fatalf("packet %d: %v", n, err)
		}
		n++
	}
	if n != st.Sent || x.Stats.Transformed != int64(st.Sent) {
		t.Fatalf("sent %d, transformed %d, want %d", n, x.Stats.Transformed, st.Sent)
	}
}

// Reading a packet in the timed pass must not allocate with the mmap reader.
func TestCaptureSourceNextDoesNotAllocate(t *testing.T) {
	path := sharedTrace(t, "pcap-parser-wireshark_samples-test.pcapng") // 5898 packets, all Ethernet
	s, err := NewCaptureSource(path, CaptureOptions{Transform: &pktframe.Transformer{Zero: true}, Timing: Timing{Loops: 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var p Packet
	if n := testing.AllocsPerRun(10000, func() { s.Next(&p) }); n != 0 {
		t.Fatalf("Next allocates %v per packet", n)
	}
}

// Scan agrees with the numbers of testdata/captures/README.md for a pcapng with several
// sections, interfaces, link types and backwards timestamps.
func TestScanPcapng(t *testing.T) {
	s, err := Scan(sharedTrace(t, "gopacket-be-test202.pcapng"), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Packets != 8 || s.Format != "pcapng" || s.ByteOrder != "big" || s.LinkTypes[1] != 6 || s.LinkTypes[0] != 2 || s.Sections != 3 || s.Backwards == 0 {
		t.Fatalf("%+v", s)
	}
}

// A capture cut short replays its valid prefix with Lenient, and says what
// it dropped; without Lenient it is refused.
func TestCaptureSourceLenient(t *testing.T) {
	data, err := os.ReadFile(sharedTrace(t, "tcpreplay-test.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.pcap")
	if err := os.WriteFile(cut, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewCaptureSource(cut, CaptureOptions{}); !IsFormatError(err) {
		t.Fatalf("strict: %v, want a FormatError", err)
	}
	s, err := NewCaptureSource(cut, CaptureOptions{Read: ReadOptions{Lenient: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st := s.Stats()
	if st.Malformed == "" || st.DroppedBytes <= 0 || st.Sent == 0 || st.Sent >= 179 || s.Len() != st.Sent {
		t.Fatalf("lenient stats %+v", st)
	}
	var p Packet
	n := 0
	for s.Next(&p) {
		n++
	}
	if n != st.Sent || s.Err() != nil {
		t.Fatalf("replayed %d of %d, err %v", n, st.Sent, s.Err())
	}
}
