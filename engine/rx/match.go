package rx

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"slices"
)

// MatchPrefix is how many bytes of a frame (after its outermost VLAN tag,
// if any, is taken out) a Matcher hashes, with the frame's length. Frames
// that agree in these bytes and in length are told apart by order only.
// A receiver with a Matcher keeps at least MatchPrefix + 4 bytes of each
// frame (the tag may still be in the frame).
const MatchPrefix = 96

// Matcher identifies frames that carry no sequence mark, such as the
// frames of a real capture, by a hash of their content: the sender's
// frames are added before the run, by sequence number, and each arrival
// is matched to the first not yet matched sequence number with the same
// hash. Copies of one frame (equal hashes) are thus matched in order. The
// lookup does not allocate.
//
// The outermost 802.1Q or 802.1ad tag is left out of the hash on both
// sides, since a veth may hand a frame to the receiver with that tag taken
// out into the packet's metadata (TP_STATUS_VLAN_VALID).
type Matcher struct {
	seed   maphash.Seed
	hashes []uint64 // by sequence number, until build
	slots  []matchSlot
	mask   uint64
	seqs   []uint32 // sequence numbers grouped by hash, each group in order
}

// matchSlot is one hash of the open-addressing table: its sequence numbers
// are seqs[start:end], and next is the first one not matched yet. An empty
// slot has end 0.
type matchSlot struct {
	hash             uint64
	start, end, next uint32
}

// Match outcomes.
const (
	matchUnknown = iota // no frame of the schedule has this content
	matchFirst          // seq's first arrival
	matchExtra          // every frame with this content has arrived: a copy
)

// NewMatcher returns a Matcher for n frames, sequence numbers 0 to n-1.
func NewMatcher(n int) (*Matcher, error) {
	if n < 0 || n > MaxExpect {
		return nil, fmt.Errorf("rx: matcher for %d frames: out of range [0, %d]", n, MaxExpect)
	}
	return &Matcher{seed: maphash.MakeSeed(), hashes: make([]uint64, n)}, nil
}

// Add records the content of the frame with sequence number seq (the
// bytes as the sender hands them to the wire, without FCS). Add after
// the receiver was opened with the matcher, or with seq out of range,
// panics.
func (m *Matcher) Add(seq int, frame []byte) {
	m.hashes[seq] = m.sum(frame, len(frame), false)
}

// Len is the number of frames the matcher was made for.
func (m *Matcher) Len() int { return max(len(m.hashes), len(m.seqs)) }

// sum hashes frame (whose length on the wire is wireLen; frame may be a
// prefix of it) without its outermost VLAN tag, MatchPrefix bytes at most.
// stripped says the kernel has taken that tag out already (the frame
// arrived with TP_STATUS_VLAN_VALID). The addresses and the rest are
// hashed apart, so a frame with its tag and one without it are hashed
// from the same two pieces.
func (m *Matcher) sum(f []byte, wireLen int, stripped bool) uint64 {
	if len(f) < 12 {
		return mix(maphash.Bytes(m.seed, f), 0, wireLen)
	}
	rest := f[12:min(len(f), MatchPrefix)]
	if !stripped && len(f) >= 16 {
		if et := binary.BigEndian.Uint16(f[12:]); et == 0x8100 || et == 0x88a8 {
			rest, wireLen = f[16:min(len(f), MatchPrefix+4)], wireLen-4
		}
	}
	return mix(maphash.Bytes(m.seed, f[:12]), maphash.Bytes(m.seed, rest), wireLen)
}

// mix combines the hashes of a frame's addresses and rest with its length.
func mix(addr, rest uint64, wireLen int) uint64 {
	h := addr*0x9e3779b97f4a7c15 ^ rest
	h ^= uint64(wireLen) * 0xc2b2ae3d27d4eb4f
	h ^= h >> 29
	return h
}

// build groups the sequence numbers by hash and fills the table. It is
// called once, before the receiver's loop starts.
func (m *Matcher) build() {
	if m.hashes == nil {
		return
	}
	n := len(m.hashes)
	m.seqs = make([]uint32, n)
	for i := range m.seqs {
		m.seqs[i] = uint32(i)
	}
	hs := m.hashes
	slices.SortStableFunc(m.seqs, func(a, b uint32) int { return cmp.Compare(hs[a], hs[b]) })
	groups := 0
	for i := range n {
		if i == 0 || hs[m.seqs[i]] != hs[m.seqs[i-1]] {
			groups++
		}
	}
	size := 16
	for size < 2*groups {
		size *= 2
	}
	m.slots = make([]matchSlot, size)
	m.mask = uint64(size - 1)
	for i := 0; i < n; {
		h := hs[m.seqs[i]]
		j := i + 1
		for j < n && hs[m.seqs[j]] == h {
			j++
		}
		s := m.find(h)
		*s = matchSlot{hash: h, start: uint32(i), end: uint32(j), next: uint32(i)}
		i = j
	}
	m.hashes = nil
}

// find returns the slot of hash h, or the empty slot where it would go.
func (m *Matcher) find(h uint64) *matchSlot {
	for i := h & m.mask; ; i = (i + 1) & m.mask {
		s := &m.slots[i]
		if s.end == 0 || s.hash == h {
			return s
		}
	}
}

// lookup matches an arrived frame f (the part kept in the ring) of wireLen
// bytes on the wire; stripped as for sum.
func (m *Matcher) lookup(f []byte, wireLen int, stripped bool) (seq uint64, outcome int) {
	s := m.find(m.sum(f, wireLen, stripped))
	switch {
	case s.end == 0:
		return 0, matchUnknown
	case s.next == s.end:
		return uint64(m.seqs[s.end-1]), matchExtra
	}
	seq = uint64(m.seqs[s.next])
	s.next++
	return seq, matchFirst
}

// reset forgets every match, for a new run over the same frames.
func (m *Matcher) reset() {
	for i := range m.slots {
		m.slots[i].next = m.slots[i].start
	}
}
