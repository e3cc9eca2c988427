package link

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// The shared buffer (TLEM IV-F): one preallocated circular byte buffer.
// Each record is a fixed header followed by the frame, padded to a whole
// number of cache lines; a record is never split at the wrap: when it does
// not fit before the end, the producer writes a wrap marker and starts it
// at offset 0. Positions are byte counters that only grow; a record's
// offset is its position modulo the (power of two) size.
//
// The producer (input stage) owns head, the consumer (output stage) owns
// tail. Each keeps a private copy of the other's counter and reads the
// shared one only when its copy says the buffer is full (producer) or
// empty (consumer), so in steady state each counter's cache line moves
// between the cores once per batch, not once per packet.

// Record header layout, little endian, hdrSize bytes:
//
//	0   release  int64   monotonic ns at which the frame is due
//	8   arrival  int64   monotonic ns at which it arrived
//	16  seen     int64   monotonic ns at which the input stage read it
//	                     (later than arrival when it came from a kernel
//	                     that stamped it on the way in)
//	24  length   uint32  frame bytes that follow the header
//	28  flags    uint32  flagWrap: skip to offset 0
const (
	hdrSize   = 32
	lineSize  = 64
	flagWrap  = 1
	maxRecord = hdrSize + 1<<16 // the largest record: a 64 KiB frame
)

// MinRing and MaxRing bound a ring's size in bytes.
const (
	MinRing = 1 << 16
	MaxRing = 1 << 34
)

type header struct {
	release int64
	arrival int64
	seen    int64
	length  uint32
	flags   uint32
}

// pad keeps the counters on their own cache lines.
type pad [lineSize - 8]byte

// ring is the buffer and the two shared counters.
type ring struct {
	buf  []byte
	mask uint64
	size uint64
	_    pad
	head atomic.Uint64 // bytes published by the producer
	_    pad
	tail atomic.Uint64 // bytes released by the consumer
	_    pad
}

// ringSize rounds n up to a power of two within [MinRing, MaxRing].
func ringSize(n int64) (uint64, error) {
	if n > MaxRing {
		return 0, fmt.Errorf("buffer of %d bytes is larger than the %d bytes accepted", n, int64(MaxRing))
	}
	s := uint64(MinRing)
	for int64(s) < n {
		s <<= 1
	}
	return s, nil
}

// newRing allocates a ring of at least n bytes and touches every page, so
// no page fault lands inside the timed loops.
func newRing(n int64) (*ring, error) {
	s, err := ringSize(n)
	if err != nil {
		return nil, err
	}
	r := &ring{size: s, mask: s - 1}
	// The header is read through a pointer: align the buffer to a cache line.
	raw := make([]byte, s+lineSize)
	off := int((lineSize - uintptr(unsafe.Pointer(&raw[0]))%lineSize) % lineSize)
	r.buf = raw[off : off+int(s) : off+int(s)]
	for i := 0; i < len(r.buf); i += 4096 {
		r.buf[i] = 0
	}
	return r, nil
}

// recordSize is the bytes a record of an n-byte frame takes in the ring.
func recordSize(n int) uint64 { return uint64(hdrSize+n+lineSize-1) &^ (lineSize - 1) }

func (r *ring) hdr(off uint64) *header { return (*header)(unsafe.Pointer(&r.buf[off])) }

// producer is the input stage's side of a ring.
type producer struct {
	r     *ring
	pos   uint64 // next write position
	limit uint64 // cached tail + size: writes may go up to here
	pub   uint64 // last published position
}

// reserve returns the offset where a record of n frame bytes can be
// written, or false when the ring has no room for it now. It may write a
// wrap marker and move past it.
//
//go:nosplit
func (p *producer) reserve(n int) (uint64, bool) {
	r := p.r
	need := recordSize(n)
	off := p.pos & r.mask
	if off+need > r.size {
		skip := r.size - off
		if p.pos+skip > p.limit {
			p.limit = r.tail.Load() + r.size
			if p.pos+skip > p.limit {
				return 0, false
			}
		}
		h := r.hdr(off)
		h.flags, h.length = flagWrap, 0
		p.pos += skip
		off = 0
	}
	if p.pos+need > p.limit {
		p.limit = r.tail.Load() + r.size
		if p.pos+need > p.limit {
			return 0, false
		}
	}
	return off, true
}

// commit moves past a record of n frame bytes written at the reserved
// offset; it becomes visible at the next publish.
func (p *producer) commit(n int) { p.pos += recordSize(n) }

// publish makes every committed record visible to the consumer.
func (p *producer) publish() {
	if p.pos != p.pub {
		p.pub = p.pos
		p.r.head.Store(p.pos)
	}
}

// consumer is the output stage's side of a ring.
type consumer struct {
	r     *ring
	pos   uint64 // next read position
	avail uint64 // cached head
	freed uint64 // last position handed back to the producer
}

// peek returns the offset of the next record, or false when none is
// published. It skips wrap markers.
func (c *consumer) peek() (uint64, bool) {
	r := c.r
	for {
		if c.pos == c.avail {
			c.avail = r.head.Load()
			if c.pos == c.avail {
				return 0, false
			}
		}
		off := c.pos & r.mask
		if r.hdr(off).flags&flagWrap == 0 {
			return off, true
		}
		c.pos += r.size - off
	}
}

// advance moves past the record at the current position, which holds n
// frame bytes.
func (c *consumer) advance(n int) { c.pos += recordSize(n) }

// free hands the consumed space back to the producer.
func (c *consumer) free() {
	if c.pos != c.freed {
		c.freed = c.pos
		c.r.tail.Store(c.pos)
	}
}
