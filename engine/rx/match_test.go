package rx

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"
)

// captureFrame is a 60-byte unmarked frame whose bytes depend on id.
func captureFrame(id byte, size int) []byte {
	f := make([]byte, size)
	copy(f, []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00})
	for i := 14; i < size; i++ {
		f[i] = id + byte(i)
	}
	return f
}

// tagged inserts an 802.1Q tag after the MAC addresses of f.
func tagged(f []byte, vid uint16) []byte {
	out := slices.Clone(f[:12])
	out = binary.BigEndian.AppendUint16(out, 0x8100)
	out = binary.BigEndian.AppendUint16(out, vid)
	return append(out, f[12:]...)
}

func newMatcher(t testing.TB, frames [][]byte) *Matcher {
	t.Helper()
	m, err := NewMatcher(len(frames))
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		m.Add(i, f)
	}
	m.build()
	return m
}

// Frames without a mark are matched by content: copies of one frame in
// order, a tag the receiver sees stripped still matches, a frame of
// another run is unmarked, and one copy too many is a duplicate.
func TestMatcherTally(t *testing.T) {
	a, b, c := captureFrame(1, 60), captureFrame(2, 60), captureFrame(3, 200)
	long := captureFrame(1, 61) // a's bytes, one longer
	v := tagged(captureFrame(4, 80), 7)
	qinq := tagged(tagged(captureFrame(5, 90), 8), 9)
	sched := [][]byte{a, b, a, c, long, v, qinq}
	type arrival struct {
		f        []byte
		wire     int  // 0: len(f)
		stripped bool // the kernel took the outer tag out
	}
	cases := []struct {
		name     string
		arrivals []arrival
		// want
		dup, unmarked, reordered   uint64
		received                   uint64
		wantArrived, wantNotArrive []int
	}{
		{name: "in order", arrivals: []arrival{{f: a}, {f: b}, {f: a}, {f: c}, {f: long}, {f: v}, {f: qinq}},
			received: 7, wantArrived: []int{0, 1, 2, 3, 4, 5, 6}},
		{name: "copies match in order", arrivals: []arrival{{f: a}, {f: a}, {f: b}},
			received: 3, reordered: 1, wantArrived: []int{0, 1, 2}, wantNotArrive: []int{3, 4, 5}},
		{name: "a third copy is a duplicate", arrivals: []arrival{{f: a}, {f: a}, {f: a}},
			received: 2, dup: 1, wantArrived: []int{0, 2}},
		{name: "unknown content is unmarked", arrivals: []arrival{{f: captureFrame(9, 60)}, {f: b}},
			received: 1, unmarked: 1, wantArrived: []int{1}},
		{name: "length is part of the content", arrivals: []arrival{{f: long}},
			received: 1, wantArrived: []int{4}, wantNotArrive: []int{0, 2}},
		{name: "tag stripped on the way", arrivals: []arrival{{f: slices.Concat(v[:12], v[16:]), stripped: true}},
			received: 1, wantArrived: []int{5}},
		{name: "inner tag of a double-tagged frame", arrivals: []arrival{{f: slices.Concat(qinq[:12], qinq[16:]), stripped: true}, {f: qinq}},
			received: 1, dup: 1, wantArrived: []int{6}},
		{name: "snap length shorter than the frame", arrivals: []arrival{{f: c[:MatchPrefix+4], wire: len(c)}},
			received: 1, wantArrived: []int{3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tl := newTally(len(sched))
			tl.match = newMatcher(t, sched)
			for i, ar := range tc.arrivals {
				w := ar.wire
				if w == 0 {
					w = len(ar.f)
				}
				tl.frame(ar.f, w, ar.stripped, int64(1000+i))
			}
			got := [4]uint64{tl.received, tl.dup, tl.unmarked, tl.reordered}
			if want := [4]uint64{tc.received, tc.dup, tc.unmarked, tc.reordered}; got != want {
				t.Errorf("received, dup, unmarked, reordered = %v, want %v", got, want)
			}
			for _, s := range tc.wantArrived {
				if tl.arrival[s] == 0 {
					t.Errorf("seq %d did not arrive", s)
				}
			}
			for _, s := range tc.wantNotArrive {
				if tl.arrival[s] != 0 {
					t.Errorf("seq %d arrived", s)
				}
			}
		})
	}
	// Copies are matched in order: the first arrival of a's content is
	// seq 0, the second seq 2.
	tl := newTally(len(sched))
	tl.match = newMatcher(t, sched)
	tl.frame(a, len(a), false, 10)
	tl.frame(a, len(a), false, 20)
	if tl.arrival[0] != 10 || tl.arrival[2] != 20 {
		t.Errorf("copies of one frame arrived at %d and %d, want seq 0 at 10 and seq 2 at 20", tl.arrival[0], tl.arrival[2])
	}
}

// Reordering is judged within a stream: two flows interleaved on the wire,
// each in order, are not reordered; a swap within one flow is.
func TestStreamReorder(t *testing.T) {
	// Sequence numbers 0..7; even ones are stream 0, odd ones stream 1.
	streams := []uint16{0, 1, 0, 1, 0, 1, 0, 1}
	cases := []struct {
		name      string
		order     []uint64
		streams   []uint16
		reordered uint64
	}{
		{"interleaved flows, each in order", []uint64{1, 3, 0, 5, 2, 7, 4, 6}, streams, 0},
		{"one flow ahead of the other", []uint64{1, 3, 5, 7, 0, 2, 4, 6}, streams, 0},
		{"a swap within a flow", []uint64{1, 3, 0, 4, 2, 5, 7, 6}, streams, 1},
		{"one stream: order across flows counts", []uint64{1, 3, 5, 7, 0, 2, 4, 6}, nil, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tl := newTally(len(streams))
			if c.streams != nil {
				tl.setStreams(c.streams)
			}
			for i, s := range c.order {
				f := marked(t, s)
				tl.frame(f, len(f), false, int64(100+i))
			}
			if tl.received != 8 || tl.reordered != c.reordered {
				t.Errorf("received %d reordered %d, want 8 and %d", tl.received, tl.reordered, c.reordered)
			}
		})
	}
}

func TestMatcherConfig(t *testing.T) {
	m, err := NewMatcher(3)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"matcher of another size", Config{Ifindex: 1, Expect: 4, CPU: -1, Match: m}, "matcher of 3 frames for 4"},
		{"snap too short for the matcher", Config{Ifindex: 1, Expect: 3, CPU: -1, Match: m, SnapLen: 64}, "at least 100"},
		{"streams of another size", Config{Ifindex: 1, Expect: 3, CPU: -1, Streams: []uint16{0}}, "streams for 1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.cfg.fill(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	if _, err := NewMatcher(-1); err == nil {
		t.Error("a matcher of -1 frames")
	}
}

// matchBlock is a full block of distinct unmarked 60-byte frames and a
// matcher that knows them (with the wire length buildBlock writes).
func matchBlock(tb testing.TB) ([]byte, *Matcher, int) {
	n := (64<<10 - bdHdrLen) / ((macOff + 60 + 15) &^ 15)
	frames := make([][]byte, n)
	rt := make([]int64, n)
	m, err := NewMatcher(n)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range frames {
		frames[i] = captureFrame(0, 60)
		binary.BigEndian.PutUint32(frames[i][20:], uint32(i))
		rt[i] = 1_700_000_000_000_000_000 + int64(i)*1000
		m.hashes[i] = m.sum(frames[i], len(frames[i])+4, false) // buildBlock's wire length
	}
	m.build()
	return buildBlock(tb, 64<<10, frames, rt), m, n
}

// Matching by content does not allocate in the receive path, and matches
// every frame.
func TestMatchDoesNotAllocate(t *testing.T) {
	b, m, n := matchBlock(t)
	w := walker{tally: newTally(n), offset: 1_600_000_000_000_000_000}
	w.match = m
	allocs := testing.AllocsPerRun(50, func() {
		clear(w.arrival)
		w.high[0] = -1
		m.reset()
		w.block(b)
	})
	if allocs != 0 {
		t.Errorf("walking a block with a matcher allocates %v times", allocs)
	}
	if w.unmarked != 0 || w.dup != 0 || w.reordered != 0 || w.arrival[n-1] == 0 {
		t.Fatalf("unmarked %d dup %d reordered %d: not every frame matched its own sequence number", w.unmarked, w.dup, w.reordered)
	}
}
