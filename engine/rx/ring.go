package rx

import (
	"encoding/binary"
	"math"

	"golang.org/x/sys/unix"

	"github.com/labrun/labrun/engine/mem"
	"github.com/labrun/labrun/engine/trace"
)

// TPACKET_V3 layout (linux/if_packet.h), in the machine's byte order. A
// ring is a row of blocks; each block starts with a tpacket_block_desc and
// holds frames, each a tpacket3_hdr, a sockaddr_ll, and the frame itself at
// tp_mac from the header. The kernel hands a block over by setting
// TP_STATUS_USER in block_status, and takes it back when user space writes
// TP_STATUS_KERNEL there.
const (
	bdStatus   = 8  // block_status
	bdNumPkts  = 12 // num_pkts
	bdFirstPkt = 16 // offset_to_first_pkt
	bdHdrLen   = 48 // sizeof(struct tpacket_block_desc)

	fhNext    = 0  // tp_next_offset
	fhSec     = 4  // tp_sec
	fhNsec    = 8  // tp_nsec
	fhSnaplen = 12 // tp_snaplen: bytes in the ring
	fhLen     = 16 // tp_len: bytes on the wire
	fhStatus  = 20 // tp_status
	fhMac     = 24 // tp_mac: offset of the frame from the header
	fhHdrLen  = 48 // sizeof(struct tpacket3_hdr)

	// macOff is where the kernel puts an Ethernet frame in a V3 slot:
	// TPACKET_ALIGN(TPACKET3_HDRLEN + 16) - 14, with TPACKET3_HDRLEN =
	// 48 + sizeof(struct sockaddr_ll). Ring sizing uses it.
	macOff = 82
)

var ne = binary.NativeEndian

// tally is the per-frame accounting of the receive path. Its fields are
// owned by the drain loop; the Receiver publishes marked and total through
// atomics once per block.
type tally struct {
	arrival []int64  // per expected sequence number; 0 = not arrived
	stream  []uint16 // per expected sequence number: its stream; nil = one stream
	high    []int64  // per stream: highest sequence number arrived so far, -1 = none
	match   *Matcher // nil: frames carry labrun's mark

	received, dup, reordered, outOfRange uint64
	marked, unmarked, total              uint64
	first, last                          int64 // earliest and latest arrival of any frame
	// byStamp leaves order to reorderedByStamp: the frames are walked in
	// another order than they arrived (a ring per CPU).
	byStamp bool
}

// newTally prepares the accounting for expect frames. The arrival array's
// pages are faulted in now, before the sender starts, not one every 512
// frames while the drain loop runs (1,953 faults for a million frames, in
// the process whose other thread is sending).
func newTally(expect int) tally {
	t := tally{arrival: make([]int64, expect), high: []int64{-1}}
	mem.Touch(t.arrival)
	return t
}

// setStreams judges order within each stream: stream[seq] is the stream
// of sequence number seq (nil: all in one).
func (t *tally) setStreams(stream []uint16) {
	t.stream = stream
	n := 1
	for _, s := range stream {
		n = max(n, int(s)+1)
	}
	t.high = make([]int64, n)
	for i := range t.high {
		t.high[i] = -1
	}
}

// frame accounts one frame of wireLen bytes on the wire (f is the part
// kept in the ring) that arrived at at (clock.Now scale, never 0);
// stripped says the kernel took its outermost VLAN tag out.
//
// Without a Matcher, a frame without labrun's marker is unmarked and a
// marked frame whose sequence number is Expect or more is out of range.
// With one, a frame whose content matches no frame of the schedule is
// unmarked, and one whose every copy has arrived is a duplicate.
// Otherwise its first arrival is recorded; a later copy counts as a
// duplicate only (never also as reordered), and a first arrival below the
// highest sequence number seen so far in its stream counts as reordered.
func (t *tally) frame(f []byte, wireLen int, stripped bool, at int64) {
	t.total++
	if t.first == 0 || at < t.first {
		t.first = at
	}
	if at > t.last {
		t.last = at
	}
	var seq uint64
	if t.match != nil {
		var how int
		seq, how = t.match.lookup(f, wireLen, stripped)
		switch how {
		case matchUnknown:
			t.unmarked++
			return
		case matchExtra:
			t.marked++
			t.dup++
			return
		}
	} else {
		var ok bool
		if seq, ok = trace.SeqOf(f); !ok {
			t.unmarked++
			return
		}
	}
	t.marked++
	if seq >= uint64(len(t.arrival)) {
		t.outOfRange++
		return
	}
	if t.arrival[seq] != 0 {
		t.dup++
		return
	}
	t.arrival[seq] = at
	t.received++
	s := 0
	if t.stream != nil {
		s = int(t.stream[seq])
	}
	if t.byStamp {
		return
	}
	if int64(seq) < t.high[s] {
		t.reordered++
	} else {
		t.high[s] = int64(seq)
	}
}

// reorderedByStamp counts the frames that arrived, by their stamps, after a
// frame of a higher sequence number in their stream: what frame counts
// walking the frames in arrival order (equal stamps are in order).
func (t *tally) reorderedByStamp() uint64 {
	earliest := make([]int64, len(t.high)) // per stream: the earliest arrival above the sequence number at hand
	for i := range earliest {
		earliest[i] = math.MaxInt64
	}
	var n uint64
	for seq := len(t.arrival) - 1; seq >= 0; seq-- {
		at := t.arrival[seq]
		if at == 0 {
			continue
		}
		s := 0
		if t.stream != nil {
			s = int(t.stream[seq])
		}
		if at > earliest[s] {
			n++
		} else {
			earliest[s] = at
		}
	}
	return n
}

// walker turns retired ring blocks into accounting and capture records.
type walker struct {
	tally
	offset    int64    // realtime - monotonic: kernel stamps minus this are clock.Now readings
	cap       *capture // nil: no capture
	malformed uint64   // blocks whose layout did not fit the block (never expected from a kernel)
	early     uint64   // frames the kernel stamped before the packet hook (TP_STATUS_TS_SOFTWARE)
	hw        uint64   // frames the NIC stamped (TP_STATUS_TS_RAW_HARDWARE)
	phcOffset int64    // realtime - NIC clock: a hardware stamp plus this is a kernel stamp
	tap       tapFunc  // Config.Tap; nil: none
}

type tapFunc = func(f []byte, wireLen int, at int64)

// block accounts every frame of the retired block b. It does not allocate.
// The layout is checked against len(b): a header or frame that would run
// past the block ends the walk of that block and counts it as malformed.
func (w *walker) block(b []byte) {
	n := ne.Uint32(b[bdNumPkts:])
	off := uint64(ne.Uint32(b[bdFirstPkt:]))
	size := uint64(len(b))
	for i := range n {
		if off < bdHdrLen || off+fhHdrLen > size {
			w.malformed++
			return
		}
		h := b[off:]
		mac := uint64(ne.Uint16(h[fhMac:]))
		snap := uint64(ne.Uint32(h[fhSnaplen:]))
		if mac < fhHdrLen || off+mac+snap > size {
			w.malformed++
			return
		}
		f := h[mac : mac+snap]
		status := ne.Uint32(h[fhStatus:])
		if status&unix.TP_STATUS_TS_SOFTWARE != 0 {
			w.early++
		}
		rt := int64(ne.Uint32(h[fhSec:]))*1e9 + int64(ne.Uint32(h[fhNsec:]))
		if status&unix.TP_STATUS_TS_RAW_HARDWARE != 0 {
			w.hw++
			rt += w.phcOffset
		}
		w.frame(f, int(ne.Uint32(h[fhLen:])), status&unix.TP_STATUS_VLAN_VALID != 0, rt-w.offset)
		if w.tap != nil {
			w.tap(f, int(ne.Uint32(h[fhLen:])), rt-w.offset)
		}
		if w.cap != nil {
			w.cap.write(f, ne.Uint32(h[fhLen:]), rt)
		}
		next := uint64(ne.Uint32(h[fhNext:]))
		if next == 0 && i+1 < n {
			w.malformed++ // only the last frame has no successor
			return
		}
		off += next
	}
}
