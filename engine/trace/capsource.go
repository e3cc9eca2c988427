package trace

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/labrun/labrun/engine/clock"
	pktframe "github.com/labrun/labrun/engine/frame"
)

// Timing says how a capture's packets are scheduled.
type Timing struct {
	// Speed multiplies the trace's own pace (2 = gaps halved); 0 means 1.
	Speed float64
	// PPS, if > 0, re-times the packets to this fixed packet rate.
	PPS float64
	// BPS, if > 0, re-times the packets so that the link carries this many
	// bits per second; L1 counts each frame's bits on the wire (frame, FCS,
	// preamble and SFD, inter-frame gap: +24 B), otherwise L2 (frame and
	// FCS: +4 B). Frame lengths are the lengths on the wire (OrigLen).
	BPS float64
	L1  bool
	// Topspeed sends every packet at once, as fast as the loop goes.
	Topspeed bool
	// Loops replays the trace this many times (0 means 1); each pass starts
	// one mean gap after the previous pass's last packet.
	Loops int
	// MaxGap, if > 0, shortens every gap longer than it (as replayed,
	// after Speed) to MaxGap, which moves the rest of the schedule
	// earlier: tcpreplay's --maxsleep.
	MaxGap int64
}

// Ethernet framing overheads, bytes.
const (
	FrameOverheadL2 = 4      // FCS
	FrameOverheadL1 = 4 + 20 // FCS, preamble and SFD (8), inter-frame gap (12)
)

// CaptureOptions configure a capture-backed source.
type CaptureOptions struct {
	Read   ReadOptions
	Timing Timing
	// Transform is applied to each frame before it is sent (a copy: the
	// file is never changed). Nil sends frames as captured.
	Transform *pktframe.Transformer
	// RecordReadLatency keeps the time each read took (NetVCR Fig. 1).
	RecordReadLatency bool
	// ColdCache evicts the file from the page cache before the timed pass.
	ColdCache bool
}

// CaptureStats is what the pre-pass found.
type CaptureStats struct {
	Packets   int // in the file
	Sent      int // packets per pass that will be sent
	Backwards int // timestamps earlier than the previous one (gap clamped to 0)
	// NotEthernet and Untransformable count packets left out of the replay:
	// they are reported, never sent silently.
	NotEthernet     int
	Untransformable int
	// CacheDropped reports that the file was evicted from the page cache.
	CacheDropped bool
	// Malformed is the malformation that ended a lenient read, and
	// DroppedBytes how much of the file was left out because of it.
	Malformed    string `json:",omitempty"`
	DroppedBytes int64  `json:",omitempty"`
}

// CaptureSource replays a capture file: a pre-pass computes the schedule
// and which packets can be sent; the timed pass reads each packet from the
// file inline, as NetVCR's engine does, so the reader's cost and stalls
// show in the send-time error.
type CaptureSource struct {
	path    string
	o       CaptureOptions
	r       CaptureReader
	send    []bool  // per packet of the file: is it sent
	offsets []int64 // per sent packet of one pass
	period  int64   // offset of pass k+1 relative to pass k
	base    int64   // offset of the current pass
	loops   int
	pass    int
	k       int // index into offsets within the pass
	buf     []byte
	rec     Record
	lat     []int64
	st      CaptureStats
	err     error
}

// NewCaptureSource opens path, reads it once to build the schedule, and
// leaves it open for the timed pass.
func NewCaptureSource(path string, o CaptureOptions) (*CaptureSource, error) {
	pp, err := ReadPrepass(path, o.Read, rewriteOf(o.Transform), o.Transform != nil && o.Transform.Zero)
	if err != nil {
		return nil, err
	}
	return NewCaptureSourceFrom(pp, o)
}

// NewCaptureSourceFrom builds the schedule from a prepass of the file
// (ReadPrepass or CachedPrepass with the same read options and rewrite)
// without reading it again, and opens the file for the timed pass. No
// packet to send is an *EmptyError.
func NewCaptureSourceFrom(pp *Prepass, o CaptureOptions) (*CaptureSource, error) {
	s := &CaptureSource{path: pp.Path, o: o, loops: max(o.Timing.Loops, 1)}
	zero := o.Transform != nil && o.Transform.Zero
	if zero && !pp.zeroed {
		return nil, errNotZeroed
	}
	sel := pp.selectPackets(o.Transform != nil, zero)
	s.st, s.send = sel.st, sel.send
	if len(sel.ts) == 0 {
		return nil, &EmptyError{Path: pp.Path, Stats: s.st, End: pp.Size}
	}
	sc := schedule(sel.ts, sel.wire, o.Timing)
	s.offsets, s.period, s.st.Backwards = sc.offsets, sc.period, sc.backwards
	s.buf = make([]byte, 0, pp.MaxLen)
	if o.RecordReadLatency {
		s.lat = make([]int64, s.Len())
	}
	if o.ColdCache {
		if err := DropFileCache(s.path); err != nil {
			return nil, fmt.Errorf("%s: dropping it from the page cache: %w", s.path, err)
		}
		s.st.CacheDropped = true
	}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

// rewriteOf is the address rewrite of a transform, nil if none.
func rewriteOf(x *pktframe.Transformer) *pktframe.Rewrite {
	if x == nil {
		return nil
	}
	return x.Rewrite
}

func (s *CaptureSource) open() error {
	r, err := OpenCapture(s.path, s.o.Read)
	if err != nil {
		return err
	}
	s.r = r
	return nil
}

// schedResult is a schedule: the offsets of one pass, the period between
// passes, and what computing it found.
type schedResult struct {
	offsets   []int64
	period    int64
	backwards int   // timestamps earlier than the one before (gap 0)
	shortened int   // gaps max_gap shortened
	largest   int64 // the largest gap, and the index of the packet after it
	largestAt int
}

// schedule computes the offsets of one pass and the period between passes.
// Timestamps that go backwards keep their order and get a gap of 0; gaps
// longer than t.MaxGap become t.MaxGap. No timestamp gives no offset.
func schedule(ts []int64, wire []int, t Timing) schedResult {
	n := len(ts)
	r := schedResult{offsets: make([]int64, n)}
	if n == 0 {
		return r
	}
	speed := t.Speed
	if speed <= 0 {
		speed = 1
	}
	overhead := FrameOverheadL2
	if t.L1 {
		overhead = FrameOverheadL1
	}
	var last int64 // the gap after the last packet, for loops
	for i := 1; i < n; i++ {
		var gap int64
		switch {
		case t.Topspeed:
		case t.PPS > 0:
			gap = int64(math.Round(1e9*float64(i)/t.PPS)) - int64(math.Round(1e9*float64(i-1)/t.PPS))
		case t.BPS > 0:
			gap = int64(math.Round(float64((wire[i-1]+overhead)*8) * 1e9 / t.BPS))
		default:
			var d int64
			if ts[i] < ts[i-1] {
				r.backwards++
			} else if d = ts[i] - ts[i-1]; d < 0 {
				d = math.MaxInt64 // a span beyond int64 (negative offsets)
			}
			gap = int64(math.Round(float64(d) / speed))
		}
		if t.MaxGap > 0 && gap > t.MaxGap {
			gap = t.MaxGap
			r.shortened++
		}
		if gap > r.largest {
			r.largest, r.largestAt = gap, i
		}
		r.offsets[i] = satAdd(r.offsets[i-1], gap)
	}
	switch {
	case t.Topspeed:
	case t.BPS > 0:
		last = int64(math.Round(float64((wire[n-1]+overhead)*8) * 1e9 / t.BPS))
	case n > 1:
		last = r.offsets[n-1] / int64(n-1)
	}
	if t.MaxGap > 0 {
		last = min(last, t.MaxGap)
	}
	r.period = satAdd(r.offsets[n-1], last)
	return r
}

// Len implements Source.
func (s *CaptureSource) Len() int { return len(s.offsets) * s.loops }

// Stats reports what the pre-pass found.
func (s *CaptureSource) Stats() CaptureStats { return s.st }

// Err is the error that ended the timed pass early, if any.
func (s *CaptureSource) Err() error { return s.err }

// ReadLatency returns the time each packet's read took, ns (nil unless
// RecordReadLatency was set).
func (s *CaptureSource) ReadLatency() []int64 { return s.lat }

// Rewind implements Source: it reopens the file.
func (s *CaptureSource) Rewind() {
	if s.r != nil {
		s.r.Close()
	}
	s.pass, s.k, s.base = 0, 0, 0
	s.err = s.open()
}

// Next implements Source. It reads the next sendable packet from the file,
// copies it into the source's buffer and transforms it there.
func (s *CaptureSource) Next(p *Packet) bool {
	if s.err != nil {
		return false
	}
	if s.k == len(s.offsets) {
		s.pass++
		if s.pass >= s.loops {
			return false
		}
		// A new pass reopens the file (once per loop, not per packet).
		s.r.Close()
		if s.err = s.open(); s.err != nil {
			return false
		}
		s.k = 0
		s.base = satAdd(s.base, s.period)
	}
	idx := s.pass*len(s.offsets) + s.k
	for {
		t0 := clock.Now()
		err := s.r.Next(&s.rec)
		if s.lat != nil {
			s.lat[idx] = clock.Now() - t0
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				s.err = err
			} else {
				s.err = fmt.Errorf("%s: the file ended during the replay (was it changed?)", s.path)
			}
			return false
		}
		if s.rec.Index < len(s.send) && s.send[s.rec.Index] {
			break
		}
	}
	b := append(s.buf[:0], s.rec.Data...)
	if s.o.Transform != nil {
		b, _ = s.o.Transform.Apply(s.rec.LinkType, b)
	}
	p.Offset = satAdd(s.base, s.offsets[s.k])
	p.Seq = uint64(idx)
	p.Frame = b
	s.k++
	return true
}

// Close releases the file.
func (s *CaptureSource) Close() error {
	if s.r == nil {
		return nil
	}
	return s.r.Close()
}
