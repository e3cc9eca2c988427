package trace

import "testing"

// Flows of a synthetic trace split evenly, every packet of a flow goes to
// the same part, and FlowPart does not allocate.
func TestFlowPartSplitsSyntheticFlows(t *testing.T) {
	for _, tc := range []struct{ flows, parts int }{{2, 2}, {4, 2}, {8, 4}, {6, 3}, {1, 1}} {
		s, err := NewSynth(SynthConfig{Count: 1200, FrameSize: 64, Flows: tc.flows, Endpoints: DefaultEndpoints()})
		if err != nil {
			t.Fatal(err)
		}
		count := make([]int, tc.parts)
		partOf := map[int]int{}
		var p Packet
		for i := 0; s.Next(&p); i++ {
			k := FlowPart(p.Frame, tc.parts)
			if k < 0 || k >= tc.parts {
				t.Fatalf("part %d of %d", k, tc.parts)
			}
			flow := i % tc.flows
			if prev, ok := partOf[flow]; ok && prev != k {
				t.Fatalf("flows=%d: flow %d went to parts %d and %d", tc.flows, flow, prev, k)
			}
			partOf[flow] = k
			count[k]++
		}
		for k, c := range count {
			if c != 1200/tc.parts {
				t.Fatalf("flows=%d parts=%d: part %d got %d packets, want %d", tc.flows, tc.parts, k, c, 1200/tc.parts)
			}
		}
	}
}

func TestFlowPartNonIPAndShort(t *testing.T) {
	for _, f := range [][]byte{nil, make([]byte, 13), append(make([]byte, 12), 0x88, 0xb5, 1, 2, 3)} {
		if k := FlowPart(f, 4); k != 0 {
			t.Fatalf("frame %x: part %d, want 0", f, k)
		}
	}
}

func TestSyntheticFlowsKeepChecksums(t *testing.T) {
	s, err := NewSynth(SynthConfig{Count: 64, FrameSize: 100, Flows: 7, Endpoints: DefaultEndpoints()})
	if err != nil {
		t.Fatal(err)
	}
	var p Packet
	for i := 0; s.Next(&p); i++ {
		if sp := int(p.Frame[34])<<8 | int(p.Frame[35]); sp != 49152+i%7 {
			t.Fatalf("packet %d: source port %d", i, sp)
		}
		verifyUDP(t, p.Frame)
	}
	if _, err := NewSynth(SynthConfig{Count: 1, FrameSize: 64, Flows: 20000, Endpoints: DefaultEndpoints()}); err == nil {
		t.Fatal("flows past port 65535 accepted")
	}
	n := testing.AllocsPerRun(100, func() { FlowPart(p.Frame, 2) })
	if n != 0 {
		t.Fatalf("FlowPart allocates %v", n)
	}
}

func BenchmarkFlowPart(b *testing.B) {
	s, err := NewSynth(SynthConfig{Count: 1, FrameSize: 64, Flows: 2, Endpoints: DefaultEndpoints()})
	if err != nil {
		b.Fatal(err)
	}
	var p Packet
	s.Next(&p)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n += FlowPart(p.Frame, 2)
	}
	_ = n
}
