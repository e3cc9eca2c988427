package rx

import (
	"bufio"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/google/gopacket/pcapgo"
	"golang.org/x/sys/unix"

	"github.com/labrun/labrun/engine/trace"
)

// The offsets the walker reads must be the kernel's, as x/sys/unix spells
// the structures.
func TestLayoutMatchesKernelHeaders(t *testing.T) {
	var bd unix.TpacketBlockDesc
	var h1 unix.TpacketHdrV1
	var fh unix.Tpacket3Hdr
	hdr := int(unsafe.Offsetof(bd.Hdr))
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"block_status", bdStatus, hdr + int(unsafe.Offsetof(h1.Block_status))},
		{"num_pkts", bdNumPkts, hdr + int(unsafe.Offsetof(h1.Num_pkts))},
		{"offset_to_first_pkt", bdFirstPkt, hdr + int(unsafe.Offsetof(h1.Offset_to_first_pkt))},
		{"sizeof tpacket_block_desc", bdHdrLen, int(unsafe.Sizeof(bd))},
		{"tp_next_offset", fhNext, int(unsafe.Offsetof(fh.Next_offset))},
		{"tp_sec", fhSec, int(unsafe.Offsetof(fh.Sec))},
		{"tp_nsec", fhNsec, int(unsafe.Offsetof(fh.Nsec))},
		{"tp_snaplen", fhSnaplen, int(unsafe.Offsetof(fh.Snaplen))},
		{"tp_len", fhLen, int(unsafe.Offsetof(fh.Len))},
		{"tp_mac", fhMac, int(unsafe.Offsetof(fh.Mac))},
		{"sizeof tpacket3_hdr", fhHdrLen, int(unsafe.Sizeof(fh))},
		{"mac offset", macOff, (fhHdrLen+unix.SizeofSockaddrLinklayer+16+15)&^15 - 14},
	} {
		if c.got != c.want {
			t.Errorf("%s at %d, kernel layout says %d", c.name, c.got, c.want)
		}
	}
}

// buildBlock lays frames out as the kernel does in a V3 block of size
// bytes, stamped with the realtime stamps rt (ns), and marks it retired.
func buildBlock(tb testing.TB, size int, frames [][]byte, rt []int64) []byte {
	tb.Helper()
	b := make([]byte, size)
	ne.PutUint32(b[0:], unix.TPACKET_V3)
	ne.PutUint32(b[bdStatus:], unix.TP_STATUS_USER)
	ne.PutUint32(b[bdNumPkts:], uint32(len(frames)))
	ne.PutUint32(b[bdFirstPkt:], bdHdrLen)
	off := bdHdrLen
	for i, f := range frames {
		next := (macOff + len(f) + 15) &^ 15
		if off+next > size {
			tb.Fatalf("frame %d does not fit a block of %d B", i, size)
		}
		h := b[off:]
		if i < len(frames)-1 {
			ne.PutUint32(h[fhNext:], uint32(next))
		}
		ne.PutUint32(h[fhSec:], uint32(rt[i]/1e9))
		ne.PutUint32(h[fhNsec:], uint32(rt[i]%1e9))
		ne.PutUint32(h[fhSnaplen:], uint32(len(f)))
		ne.PutUint32(h[fhLen:], uint32(len(f)+4))
		ne.PutUint16(h[fhMac:], macOff)
		copy(h[macOff:], f)
		off += next
	}
	return b
}

// marked returns a 60-byte labrun frame carrying seq.
func marked(tb testing.TB, seq uint64) []byte {
	tb.Helper()
	s, err := trace.NewSynthetic(1, 0, 64, trace.DefaultEndpoints())
	if err != nil {
		tb.Fatal(err)
	}
	var p trace.Packet
	s.Next(&p)
	f := append([]byte(nil), p.Frame...)
	binary.BigEndian.PutUint64(f[trace.HeaderLen+4:], seq)
	return f
}

func unmarkedFrame() []byte { return make([]byte, 60) }

func TestTally(t *testing.T) {
	const none = ^uint64(0) // an unmarked frame
	cases := []struct {
		name   string
		expect int
		seqs   []uint64
		// want
		received, dup, reordered, outOfRange, unmarked uint64
		arrived                                        []int // sequence numbers with an arrival
	}{
		{"in order", 4, []uint64{0, 1, 2, 3}, 4, 0, 0, 0, 0, []int{0, 1, 2, 3}},
		{"gap is not reordering", 5, []uint64{0, 2, 4}, 3, 0, 0, 0, 0, []int{0, 2, 4}},
		{"one late", 4, []uint64{0, 2, 1, 3}, 4, 0, 1, 0, 0, []int{0, 1, 2, 3}},
		{"two behind one", 4, []uint64{3, 0, 1, 2}, 4, 0, 3, 0, 0, []int{0, 1, 2, 3}},
		{"duplicates count once", 3, []uint64{0, 0, 1, 1, 0, 2}, 3, 3, 0, 0, 0, []int{0, 1, 2}},
		{"late duplicate is not reordered", 3, []uint64{0, 1, 2, 0}, 3, 1, 0, 0, 0, []int{0, 1, 2}},
		{"out of range", 2, []uint64{0, 2, 7, 1}, 2, 0, 0, 2, 0, []int{0, 1}},
		{"out of range leaves the high mark", 3, []uint64{0, 99, 1}, 2, 0, 0, 1, 0, []int{0, 1}},
		{"unmarked", 2, []uint64{none, 0, none, 1}, 2, 0, 0, 0, 2, []int{0, 1}},
		{"nothing expected", 0, []uint64{0, 1}, 0, 0, 0, 2, 0, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tl := newTally(c.expect)
			var markedN uint64
			for i, s := range c.seqs {
				f := unmarkedFrame()
				if s != none {
					f = marked(t, s)
					markedN++
				}
				tl.frame(f, len(f), false, int64(1000+10*i))
			}
			got := [5]uint64{tl.received, tl.dup, tl.reordered, tl.outOfRange, tl.unmarked}
			want := [5]uint64{c.received, c.dup, c.reordered, c.outOfRange, c.unmarked}
			if got != want {
				t.Errorf("received, dup, reordered, out of range, unmarked = %v, want %v", got, want)
			}
			if tl.total != uint64(len(c.seqs)) || tl.marked != markedN {
				t.Errorf("total %d marked %d, want %d and %d", tl.total, tl.marked, len(c.seqs), markedN)
			}
			if tl.first != 1000 || tl.last != int64(1000+10*(len(c.seqs)-1)) {
				t.Errorf("first/last any = %d/%d", tl.first, tl.last)
			}
			arrived := map[int]bool{}
			for _, s := range c.arrived {
				arrived[s] = true
			}
			for s, a := range tl.arrival {
				if (a != 0) != arrived[s] {
					t.Errorf("seq %d arrival %d, want arrived=%v", s, a, arrived[s])
				}
			}
			// The first arrival of each sequence number is the one kept.
			seen := map[uint64]bool{}
			for i, s := range c.seqs {
				if s == none || s >= uint64(c.expect) || seen[s] {
					continue
				}
				seen[s] = true
				if want := int64(1000 + 10*i); tl.arrival[s] != want {
					t.Errorf("seq %d arrival %d, want its first arrival %d", s, tl.arrival[s], want)
				}
			}
		})
	}
}

func TestWalkBlock(t *testing.T) {
	const offset = 1_700_000_000_000_000_000 - 5_000_000_000
	frames := [][]byte{marked(t, 1), unmarkedFrame(), marked(t, 0), marked(t, 1), marked(t, 3)}
	rt := []int64{1_700_000_000_000_000_100, 1_700_000_000_000_000_200, 1_700_000_000_999_999_999,
		1_700_000_001_000_000_000, 1_700_000_001_000_000_001}
	b := buildBlock(t, 64<<10, frames, rt)
	w := walker{tally: newTally(4), offset: offset}
	w.block(b)
	want := []int64{rt[2] - offset, rt[0] - offset, 0, rt[4] - offset}
	for i := range want {
		if w.arrival[i] != want[i] {
			t.Errorf("arrival[%d] = %d, want %d", i, w.arrival[i], want[i])
		}
	}
	if w.total != 5 || w.marked != 4 || w.unmarked != 1 || w.dup != 1 || w.reordered != 1 || w.received != 3 {
		t.Errorf("counts %+v", w.tally)
	}
	if w.first != rt[0]-offset || w.last != rt[4]-offset {
		t.Errorf("first/last %d/%d, want %d/%d", w.first, w.last, rt[0]-offset, rt[4]-offset)
	}
	if w.malformed != 0 {
		t.Errorf("malformed = %d on a good block", w.malformed)
	}
}

// A block whose counts or offsets run past its end is cut short, never read
// out of bounds.
func TestWalkMalformedBlock(t *testing.T) {
	good := func() []byte {
		return buildBlock(t, 4096, [][]byte{marked(t, 0), marked(t, 1)}, []int64{10, 20})
	}
	cases := []struct {
		name   string
		mutate func(b []byte)
		frames uint64 // frames accounted before the walk stops
	}{
		{"too many packets", func(b []byte) { ne.PutUint32(b[bdNumPkts:], 1000) }, 2},
		{"first offset past the end", func(b []byte) { ne.PutUint32(b[bdFirstPkt:], 4090) }, 0},
		{"first offset inside the descriptor", func(b []byte) { ne.PutUint32(b[bdFirstPkt:], 8) }, 0},
		{"snaplen past the end", func(b []byte) { ne.PutUint32(b[bdHdrLen+fhSnaplen:], 5000) }, 0},
		{"mac inside the header", func(b []byte) { ne.PutUint16(b[bdHdrLen+fhMac:], 4) }, 0},
		{"next offset past the end", func(b []byte) { ne.PutUint32(b[bdHdrLen+fhNext:], 1<<31) }, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := good()
			c.mutate(b)
			w := walker{tally: newTally(2)}
			w.block(b)
			if w.total != c.frames || w.malformed != 1 {
				t.Errorf("walked %d frames, malformed %d; want %d and 1", w.total, w.malformed, c.frames)
			}
		})
	}
}

// fullBlock is a 64 KiB block of 60-byte marked frames, the most a block
// of that size holds, with sequence numbers 0..n-1.
func fullBlock(tb testing.TB) ([]byte, int) {
	n := (64<<10 - bdHdrLen) / ((macOff + 60 + 15) &^ 15)
	frames := make([][]byte, n)
	rt := make([]int64, n)
	for i := range frames {
		frames[i] = marked(tb, uint64(i))
		rt[i] = 1_700_000_000_000_000_000 + int64(i)*1000
	}
	return buildBlock(tb, 64<<10, frames, rt), n
}

func TestWalkDoesNotAllocate(t *testing.T) {
	b, n := fullBlock(t)
	for _, withCap := range []bool{false, true} {
		w := walker{tally: newTally(n), offset: 1_600_000_000_000_000_000}
		if withCap {
			w.cap = newCapture(io.Discard, "discard", 128)
		}
		allocs := testing.AllocsPerRun(50, func() {
			clear(w.arrival)
			w.block(b)
		})
		if allocs != 0 {
			t.Errorf("capture %v: walking a block allocates %v times", withCap, allocs)
		}
		// Each run starts from a clear arrival array: every frame is new.
		if w.dup != 0 || w.received == 0 || w.received%uint64(n) != 0 || w.arrival[n-1] == 0 {
			t.Fatalf("capture %v: received %d, dup %d over whole blocks of %d", withCap, w.received, w.dup, n)
		}
	}
}

// A capture of a walked block reads back with gopacket's reader: the same
// frames, wire lengths and nanosecond timestamps.
func TestCaptureRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rx.pcapng")
	c, err := createCapture(path, 65535)
	if err != nil {
		t.Fatal(err)
	}
	frames := [][]byte{marked(t, 0), make([]byte, 61), make([]byte, 62), make([]byte, 63), marked(t, 1)}
	for i, f := range frames[1:4] {
		for j := range f {
			f[j] = byte(i + j)
		}
	}
	rt := []int64{1_700_000_000_123_456_789, 1_700_000_000_123_456_790, 1_700_000_001_000_000_001, 1_700_000_002_999_999_999, 1_700_000_003_000_000_000}
	w := walker{tally: newTally(2), cap: c}
	w.block(buildBlock(t, 4096, frames, rt))
	if err := c.close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	if intf, err := r.Interface(0); err != nil || intf.TimestampResolution != 9 {
		t.Fatalf("interface 0: %+v, %v; want if_tsresol 9", intf, err)
	}
	for i := 0; ; i++ {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			if i != len(frames) {
				t.Fatalf("read %d packets, want %d", i, len(frames))
			}
			break
		}
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if string(data) != string(frames[i]) || ci.Length != len(frames[i])+4 {
			t.Errorf("packet %d: %d bytes (wire %d), want %d (wire %d)", i, len(data), ci.Length, len(frames[i]), len(frames[i])+4)
		}
		if got := ci.Timestamp.UnixNano(); got != rt[i] {
			t.Errorf("packet %d stamped %d, want %d", i, got, rt[i])
		}
	}
	if c.n != uint64(len(frames)) {
		t.Errorf("capture counted %d frames", c.n)
	}
}

// A failing destination keeps the first error and stops writing.
func TestCaptureWriteError(t *testing.T) {
	c := newCapture(failWriter{}, "broken", 128)
	b, _ := fullBlock(t)
	w := walker{tally: newTally(0), cap: c}
	for range 40 { // more than the buffer holds
		w.block(b)
	}
	if err := c.close(); err == nil {
		t.Fatal("no error from a capture whose writes fail")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrShortWrite }

func BenchmarkWalkBlock(b *testing.B) {
	blk, n := fullBlock(b)
	for _, bc := range []struct {
		name string
		cap  bool
	}{{"plain", false}, {"capture", true}} {
		b.Run(bc.name, func(b *testing.B) {
			w := walker{tally: newTally(n)}
			if bc.name == "plain" {
				w.setStreams(make([]uint16, n))
			}
			if bc.cap {
				w.cap = newCapture(bufio.NewWriterSize(io.Discard, 1<<20), "discard", 128)
			}
			b.ReportAllocs()
			b.SetBytes(int64(n * 60))
			for b.Loop() {
				clear(w.arrival)
				w.block(blk)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/frame")
		})
	}
}

// The receive path's cost per frame when frames are matched by content
// (a real capture replayed) rather than by their sequence mark.
func BenchmarkWalkBlockMatch(b *testing.B) {
	blk, m, n := matchBlock(b)
	w := walker{tally: newTally(n)}
	w.match = m
	b.ReportAllocs()
	b.SetBytes(int64(n * 60))
	for b.Loop() {
		clear(w.arrival)
		m.reset()
		w.block(blk)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/frame")
}
