package trace

import (
	"errors"
	"strings"
	"testing"
)

const day = int64(24 * 3600 * 1e9)

// A capture with no packet, or whose first record is malformed and read
// leniently, is an *EmptyError that says what the file held: never a
// crash in the schedule.
func TestEmptyCaptures(t *testing.T) {
	dir := t.TempDir()
	empty := writeTemp(t, dir, "empty.pcap", newPcap(false, false, 2, 4, 65535, 1).buf)
	// The first record's captured length exceeds the snaplen.
	bad := writeTemp(t, dir, "bad.pcap", newPcap(false, false, 2, 4, 128, 1).rec(1, 0, 4096, 4096, frame(64, 1)).buf)
	for _, reader := range readers {
		for _, tc := range []struct {
			path      string
			lenient   bool
			malformed bool
		}{
			{empty, false, false},
			{empty, true, false},
			{bad, true, true},
		} {
			_, err := NewCaptureSource(tc.path, CaptureOptions{Read: ReadOptions{Reader: reader, Lenient: tc.lenient}})
			var ee *EmptyError
			if !errors.As(err, &ee) {
				t.Fatalf("%s %s lenient=%t: %v, want an EmptyError", reader, tc.path, tc.lenient, err)
			}
			if ee.Stats.Packets != 0 || (ee.Stats.Malformed != "") != tc.malformed || !strings.Contains(err.Error(), tc.path) {
				t.Errorf("%s %s: %v, stats %+v", reader, tc.path, err, ee.Stats)
			}
			if tc.malformed && ee.Stats.DroppedBytes != fileSize(t, bad)-pcapHeaderLen {
				t.Errorf("%s: dropped %d bytes, want all after the header", reader, ee.Stats.DroppedBytes)
			}
		}
		if _, err := NewCaptureSource(bad, CaptureOptions{Read: ReadOptions{Reader: reader}}); !IsFormatError(err) {
			t.Errorf("%s: strict read of a bad first record: %v, want a FormatError", reader, err)
		}
	}
	sc := schedule(nil, nil, Timing{Loops: 3})
	if len(sc.offsets) != 0 || sc.period != 0 {
		t.Errorf("schedule of nothing: %+v", sc)
	}
}

// A gap of 300 days is replayed as it is, shown by the plan of the
// replay, or shortened to max_gap with the rest of the schedule moved
// earlier.
func TestPlanReplayMaxGap(t *testing.T) {
	const sec = uint32(1767225600)
	b := newPcap(false, true, 2, 4, 65535, 1).pkt(sec, 0, frame(60, 1)).pkt(sec, 1_000_000, frame(60, 2)).
		pkt(sec+300*24*3600, 1_000_000, frame(60, 3)).pkt(sec+300*24*3600, 2_000_000, frame(60, 4))
	path := writeTemp(t, t.TempDir(), "gap.pcap", b.buf)
	pp, err := ReadPrepass(path, ReadOptions{}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		t         Timing
		duration  int64
		largest   int64
		shortened int
	}{
		{"own pace", Timing{}, 300*day + 2e6, 300 * day, 0},
		{"speed 2", Timing{Speed: 2}, 150*day + 1e6, 150 * day, 0},
		{"max_gap 1s", Timing{MaxGap: 1e9}, 1e9 + 2e6, 1e9, 1},
		// Two passes: the second starts one mean gap, itself capped, later.
		{"max_gap 1s, 2 loops", Timing{MaxGap: 1e9, Loops: 2}, 2*(1e9+2e6) + (1e9+2e6)/3, 1e9, 1},
	} {
		pl, err := pp.PlanReplay(tc.t, false, false)
		if err != nil {
			t.Fatal(err)
		}
		if pl.Duration != tc.duration || pl.LargestGap != tc.largest || pl.LargestGapAt != 3 || pl.Shortened != tc.shortened || pl.Stats.Sent != 4 {
			t.Errorf("%s: %+v; want duration %d, largest gap %d before packet 3, %d shortened", tc.name, pl, tc.duration, tc.largest, tc.shortened)
		}
	}
	// The source follows the same schedule.
	s, err := NewCaptureSourceFrom(pp, CaptureOptions{Timing: Timing{MaxGap: 1e9}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var p Packet
	var offs []int64
	for s.Next(&p) {
		offs = append(offs, p.Offset)
	}
	if want := []int64{0, 1e6, 1e9 + 1e6, 1e9 + 2e6}; len(offs) != 4 || offs[2] != want[2] || offs[3] != want[3] {
		t.Errorf("offsets %v, want %v", offs, want)
	}
}

// The prepass cache reads a content hash once and names the path asked.
func TestCachedPrepass(t *testing.T) {
	dir := t.TempDir()
	data := newPcap(false, false, 2, 4, 65535, 1).pkt(1, 0, frame(60, 1)).buf
	a, b := writeTemp(t, dir, "a.pcap", data), writeTemp(t, dir, "b.pcap", data)
	p1, err := CachedPrepass("test-hash-a", a, ReadOptions{}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := CachedPrepass("test-hash-a", a, ReadOptions{}, nil, false)
	if err != nil || p2 != p1 {
		t.Fatalf("second lookup: %p %v, want the cached %p", p2, err, p1)
	}
	p3, err := CachedPrepass("test-hash-a", b, ReadOptions{}, nil, false)
	if err != nil || p3.Path != b || p3.Packets != 1 {
		t.Fatalf("same content under another name: %+v %v", p3, err)
	}
}

// A pcapng file with more interface description blocks than the bound
// is refused at the first one too many, by both readers, without reading
// on.
func TestPcapngInterfaceBound(t *testing.T) {
	n := (&ngBuilder{}).shb(false)
	for range MaxInterfaces + 10 {
		n.idb(1, 0)
	}
	path := writeTemp(t, t.TempDir(), "idbs.pcapng", n.buf)
	for _, reader := range readers {
		res := readAll(t, path, ReadOptions{Reader: reader})
		err := res.err
		if err == nil {
			err = res.openErr
		}
		var fe *FormatError
		if !errors.As(err, &fe) || !strings.Contains(fe.Reason, "interface description blocks") || fe.Offset != 28+int64(MaxInterfaces)*20 {
			t.Errorf("%s: %v, want the bound at byte offset %d", reader, err, 28+MaxInterfaces*20)
		}
	}
}

// A replay that zeroes payloads needs a prepass that probed zeroing; the
// cache reads the file again for it, once.
func TestPrepassZeroProbe(t *testing.T) {
	path := sharedTrace(t, "tcpreplay-test.pcap")
	plain, err := CachedPrepass("test-hash-zero", path, ReadOptions{}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.PlanReplay(Timing{}, true, true); !errors.Is(err, errNotZeroed) {
		t.Fatalf("zeroing from a prepass that did not probe it: %v", err)
	}
	zeroed, err := CachedPrepass("test-hash-zero", path, ReadOptions{}, nil, true)
	if err != nil || zeroed == plain {
		t.Fatalf("zeroing prepass %p (plain %p): %v", zeroed, plain, err)
	}
	if again, _ := CachedPrepass("test-hash-zero", path, ReadOptions{}, nil, false); again != zeroed {
		t.Errorf("a plain request after a zeroing one read the file again")
	}
	pl, err := zeroed.PlanReplay(Timing{}, true, true)
	if err != nil || pl.Stats.Sent != 166 || pl.Stats.Untransformable != 13 {
		t.Errorf("zeroing plan %+v: %v; want 166 sent, 13 that cannot be zeroed", pl.Stats, err)
	}
}
