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
	s := &CaptureSource{path: path, o: o, loops: max(o.Timing.Loops, 1)}
	if err := s.prepass(); err != nil {
		return nil, err
	}
	if len(s.offsets) == 0 {
		return nil, fmt.Errorf("%s: no packet to replay (%d in the file: %d not Ethernet, %d could not be transformed)",
			path, s.st.Packets, s.st.NotEthernet, s.st.Untransformable)
	}
	if o.RecordReadLatency {
		s.lat = make([]int64, s.Len())
	}
	if o.ColdCache {
		if err := DropFileCache(path); err != nil {
			return nil, fmt.Errorf("%s: dropping it from the page cache: %w", path, err)
		}
		s.st.CacheDropped = true
	}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *CaptureSource) open() error {
	r, err := OpenCapture(s.path, s.o.Read)
	if err != nil {
		return err
	}
	s.r = r
	return nil
}

// prepass reads every packet's timestamp and length and decides which are
// sent.
func (s *CaptureSource) prepass() error {
	r, err := OpenCapture(s.path, s.o.Read)
	if err != nil {
		return err
	}
	defer r.Close()
	var rec Record
	var ts []int64
	var wire []int
	maxLen := 0
	scratch := make([]byte, 0, 1<<16)
	// The pre-pass tries the transform on a copy of the Transformer, so
	// only the timed pass counts in the caller's statistics.
	var probe *pktframe.Transformer
	if s.o.Transform != nil {
		t := *s.o.Transform
		probe = &t
	}
	for {
		err := r.Next(&rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		s.st.Packets++
		ok := rec.LinkType == pktframe.LinkEthernet
		if !ok {
			s.st.NotEthernet++
		} else if probe != nil {
			if _, ok = probe.Apply(rec.LinkType, append(scratch[:0], rec.Data...)); !ok {
				s.st.Untransformable++
			}
		}
		s.send = append(s.send, ok)
		if ok {
			ts = append(ts, rec.TS)
			wire = append(wire, rec.OrigLen)
			maxLen = max(maxLen, len(rec.Data))
		}
	}
	s.buf = make([]byte, 0, maxLen)
	if info := r.Info(); info.Lenient != nil {
		s.st.Malformed, s.st.DroppedBytes = info.Lenient.Error(), info.DroppedBytes
	}
	s.st.Sent = len(ts)
	s.offsets, s.period, s.st.Backwards = schedule(ts, wire, s.o.Timing)
	return nil
}

// schedule computes the offsets of one pass and the period between passes.
// Timestamps that go backwards keep their order and get a gap of 0.
func schedule(ts []int64, wire []int, t Timing) (offsets []int64, period int64, backwards int) {
	n := len(ts)
	offsets = make([]int64, n)
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
			d := ts[i] - ts[i-1]
			if d < 0 {
				backwards++
				d = 0
			}
			gap = int64(math.Round(float64(d) / speed))
		}
		offsets[i] = offsets[i-1] + gap
	}
	switch {
	case t.Topspeed:
	case t.BPS > 0 && n > 0:
		last = int64(math.Round(float64((wire[n-1]+overhead)*8) * 1e9 / t.BPS))
	case n > 1:
		last = offsets[n-1] / int64(n-1)
	}
	return offsets, offsets[n-1] + last, backwards
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
	s.pass, s.k = 0, 0
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
	p.Offset = int64(s.pass)*s.period + s.offsets[s.k]
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
