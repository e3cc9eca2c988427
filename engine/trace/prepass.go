package trace

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	pktframe "github.com/labrun/labrun/engine/frame"
)

// Prepass is what one read of a capture file found, all a replay needs
// before its timed pass: each packet's timestamp, length on the wire and
// whether it can be sent, with and without payload zeroing. It does not
// depend on the timing, so one read serves every speed, rate, loop count
// and max_gap; plan reads it and the run reuses it (Cached).
type Prepass struct {
	Path    string
	Size    int64   // of the file, bytes
	Packets int     // in the file (the valid prefix when lenient)
	TS      []int64 // per packet, ns since the epoch
	Wire    []int32 // per packet, length on the wire
	flags   []uint8 // per packet: prepassEthernet, prepassPlain, prepassZero
	zeroed  bool    // prepassZero was probed
	MaxLen  int     // largest captured length
	// Backwards counts timestamps earlier than the one before.
	Backwards int
	// Short counts packets captured shorter than on the wire.
	Short int
	// Malformed is the malformation that ended a lenient read (nil if
	// none); DroppedBytes what it left out, from its offset to the end.
	Malformed    *FormatError
	DroppedBytes int64
}

// Prepass flags.
const (
	prepassEthernet = 1 << iota // the link type is Ethernet
	prepassPlain                // the transform without zeroing accepts it
	prepassZero                 // the transform with zeroing accepts it
)

// ReadPrepass reads path once. rw is the address rewrite the replay
// applies (nil for none): packets it cannot rewrite are marked unsendable;
// with zero, which packets payload zeroing accepts is found out too (a
// replay that zeroes payloads needs a prepass read with zero). A malformed
// file is a *FormatError unless o.Lenient, which keeps the valid prefix
// and says what was dropped.
func ReadPrepass(path string, o ReadOptions, rw *pktframe.Rewrite, zero bool) (*Prepass, error) {
	r, err := OpenCapture(path, o)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	pp := &Prepass{Path: path, zeroed: zero}
	if fi, err := os.Stat(path); err == nil {
		pp.Size = fi.Size()
	}
	plain := &pktframe.Transformer{Rewrite: rw}
	zeroing := &pktframe.Transformer{Rewrite: rw, Zero: true}
	scratch := make([]byte, 0, 1<<16)
	var rec Record
	for {
		err := r.Next(&rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		var f uint8
		if rec.LinkType == pktframe.LinkEthernet {
			f = prepassEthernet
			if rw == nil { // nothing to rewrite: every frame passes
				f |= prepassPlain
			} else if _, ok := plain.Apply(rec.LinkType, append(scratch[:0], rec.Data...)); ok {
				f |= prepassPlain
			}
			if zero {
				if _, ok := zeroing.Apply(rec.LinkType, append(scratch[:0], rec.Data...)); ok {
					f |= prepassZero
				}
			}
		}
		if pp.Packets > 0 && rec.TS < pp.TS[pp.Packets-1] {
			pp.Backwards++
		}
		if len(rec.Data) < rec.OrigLen {
			pp.Short++
		}
		pp.TS = append(pp.TS, rec.TS)
		pp.Wire = append(pp.Wire, int32(min(rec.OrigLen, 1<<31-1)))
		pp.flags = append(pp.flags, f)
		pp.MaxLen = max(pp.MaxLen, len(rec.Data))
		pp.Packets++
	}
	if info := r.Info(); info.Lenient != nil {
		pp.Malformed, pp.DroppedBytes = info.Lenient, info.DroppedBytes
	}
	return pp, nil
}

// EmptyError is a capture with no packet to replay: none in the file, or
// none that is Ethernet and can be transformed. Stats says what the file
// held (and, for a lenient read, what was dropped).
type EmptyError struct {
	Path  string
	Stats CaptureStats
	End   int64 // the file's size: where the packets would have been
}

func (e *EmptyError) Error() string {
	st := e.Stats
	switch {
	case st.Malformed != "" && st.Packets == 0:
		return fmt.Sprintf("%s: no packet to replay: even a lenient read keeps none, the first record is malformed (%s)", e.Path, st.Malformed)
	case st.Packets == 0:
		return fmt.Sprintf("%s: byte offset %d (end of file): the capture holds no packet, nothing to replay", e.Path, e.End)
	}
	return fmt.Sprintf("%s: no packet to replay (%d in the file: %d not Ethernet, %d could not be transformed)",
		e.Path, st.Packets, st.NotEthernet, st.Untransformable)
}

// selection is the packets a replay sends, chosen from a prepass.
type selection struct {
	send []bool
	ts   []int64
	wire []int
	st   CaptureStats
}

// selectPackets picks the packets to send: Ethernet, and accepted by the
// transform (transform false: no transform; zero: it zeroes payloads).
func (pp *Prepass) selectPackets(transform, zero bool) selection {
	var s selection
	s.send = make([]bool, pp.Packets)
	want := uint8(prepassPlain)
	if zero {
		want = prepassZero
	}
	for i, f := range pp.flags {
		switch {
		case f&prepassEthernet == 0:
			s.st.NotEthernet++
			continue
		case transform && f&want == 0:
			s.st.Untransformable++
			continue
		}
		s.send[i] = true
		s.ts = append(s.ts, pp.TS[i])
		s.wire = append(s.wire, int(pp.Wire[i]))
	}
	s.st.Packets, s.st.Sent = pp.Packets, len(s.ts)
	if pp.Malformed != nil {
		s.st.Malformed, s.st.DroppedBytes = pp.Malformed.Error(), pp.DroppedBytes
	}
	return s
}

// ReplayPlan is what replaying a prepass with a timing gives, for a plan to
// show before anything runs.
type ReplayPlan struct {
	Stats CaptureStats
	// Duration is the scheduled time from the first packet to the last
	// of the last pass, ns.
	Duration int64
	// LargestGap is the largest gap between two sent packets as
	// replayed (after speed, rate and max_gap), ns, and LargestGapAt the
	// packet of the file (from 1) that follows it.
	LargestGap   int64
	LargestGapAt int
	// Shortened counts the gaps max_gap shortened (in one pass).
	Shortened int
}

// errNotZeroed is a replay that zeroes payloads from a prepass that did
// not probe zeroing: a caller's mistake.
var errNotZeroed = errors.New("the capture's prepass was read without payload zeroing (ReadPrepass zero = false)")

// PlanReplay computes, without reading the file again, what a replay of
// the prepass with timing t sends and for how long. transform and zero
// are as for a CaptureSource's Transform. It returns an *EmptyError when
// no packet would be sent.
func (pp *Prepass) PlanReplay(t Timing, transform, zero bool) (ReplayPlan, error) {
	if zero && !pp.zeroed {
		return ReplayPlan{}, errNotZeroed
	}
	sel := pp.selectPackets(transform, zero)
	if len(sel.ts) == 0 {
		return ReplayPlan{Stats: sel.st}, &EmptyError{Path: pp.Path, Stats: sel.st, End: pp.Size}
	}
	sc := schedule(sel.ts, sel.wire, t)
	sel.st.Backwards = sc.backwards
	p := ReplayPlan{Stats: sel.st, Shortened: sc.shortened, LargestGap: sc.largest}
	if sc.largestAt > 0 {
		// The file index of the sent packet sc.largestAt.
		k := 0
		for i, ok := range sel.send {
			if ok {
				if k == sc.largestAt {
					p.LargestGapAt = i + 1
					break
				}
				k++
			}
		}
	}
	p.Duration = satAdd(satMul(sc.period, int64(max(t.Loops, 1)-1)), sc.offsets[len(sc.offsets)-1])
	return p, nil
}

// satMul and satAdd saturate at the largest int64 instead of wrapping:
// a schedule of centuries is reported as such, not as a negative one.
func satMul(a, b int64) int64 {
	if a != 0 && b > (1<<63-1)/a {
		return 1<<63 - 1
	}
	return a * b
}

func satAdd(a, b int64) int64 {
	if b > 0 && a > (1<<63-1)-b {
		return 1<<63 - 1
	}
	return a + b
}

// The prepass cache: plan reads a capture once per content hash, read
// options and rewrite, and the runs of the same process reuse the result.
var prepassCache = struct {
	sync.Mutex
	m map[string]*Prepass
}{m: map[string]*Prepass{}}

// CachedPrepass returns the prepass of path whose content hash is sum,
// reading it only if no prepass with the same hash, leniency and rewrite
// (and zeroing probed, if zero) was read before in this process. An empty
// sum disables the cache.
func CachedPrepass(sum, path string, o ReadOptions, rw *pktframe.Rewrite, zero bool) (*Prepass, error) {
	if sum == "" {
		return ReadPrepass(path, o, rw, zero)
	}
	key := fmt.Sprintf("%s|%t|", sum, o.Lenient)
	if rw != nil {
		key += rw.String()
	}
	prepassCache.Lock()
	pp := prepassCache.m[key]
	prepassCache.Unlock()
	if pp != nil && (pp.zeroed || !zero) {
		if pp.Path != path { // the same content under another name
			c := *pp
			c.Path = path
			return &c, nil
		}
		return pp, nil
	}
	pp, err := ReadPrepass(path, o, rw, zero)
	if err != nil {
		return nil, err
	}
	prepassCache.Lock()
	prepassCache.m[key] = pp
	prepassCache.Unlock()
	return pp, nil
}
