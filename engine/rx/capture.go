package rx

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// pcapng block types and options (draft-ietf-opsawg-pcapng).
const (
	ngSHB         = 0x0A0D0D0A
	ngIDB         = 0x00000001
	ngEPB         = 0x00000006
	ngByteMagic   = 0x1A2B3C4D
	ngLinkEther   = 1
	ngOptTsresol  = 9
	ngEPBOverhead = 32 // EPB header (28) and trailing length (4)

	captureBuf = 1 << 20
)

// capture writes frames to a pcapng file: one Ethernet interface with
// nanosecond timestamps (if_tsresol 9), one Enhanced Packet Block per frame
// stamped with the kernel's receive time (CLOCK_REALTIME). Blocks go through
// a bufio.Writer; writing a frame does not allocate. The first write error
// is kept and stops further writing.
type capture struct {
	w    *bufio.Writer
	c    io.Closer // nil when the caller owns the destination
	path string
	hdr  [28]byte
	tail [8]byte // up to 3 padding zeros, then the trailing length
	n    uint64  // frames written
	err  error
}

// createCapture creates path (truncating it) and writes the file header.
func createCapture(path string, snaplen int) (*capture, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("rx capture: %w", err)
	}
	c := newCapture(f, path, snaplen)
	c.c = f
	if c.err != nil {
		f.Close()
		return nil, c.err
	}
	return c, nil
}

// newCapture writes the section and interface headers to w.
func newCapture(w io.Writer, name string, snaplen int) *capture {
	c := &capture{w: bufio.NewWriterSize(w, captureBuf), path: name}
	var h [28 + 32]byte
	le := binary.LittleEndian
	// Section Header Block: version 1.0, section length unknown.
	le.PutUint32(h[0:], ngSHB)
	le.PutUint32(h[4:], 28)
	le.PutUint32(h[8:], ngByteMagic)
	le.PutUint16(h[12:], 1)
	le.PutUint16(h[14:], 0)
	le.PutUint64(h[16:], ^uint64(0))
	le.PutUint32(h[24:], 28)
	// Interface Description Block: Ethernet, snaplen, if_tsresol = 9.
	i := h[28:]
	le.PutUint32(i[0:], ngIDB)
	le.PutUint32(i[4:], 32)
	le.PutUint16(i[8:], ngLinkEther)
	le.PutUint32(i[12:], uint32(snaplen))
	le.PutUint16(i[16:], ngOptTsresol)
	le.PutUint16(i[18:], 1)
	i[20] = 9
	// i[24:28] is opt_endofopt.
	le.PutUint32(i[28:], 32)
	c.put(h[:])
	return c
}

func (c *capture) put(b []byte) {
	if c.err != nil {
		return
	}
	if _, err := c.w.Write(b); err != nil {
		c.err = fmt.Errorf("rx capture: writing %s: %w", c.path, err)
	}
}

// write appends one frame: f is what the ring holds, wire the frame's
// length on the wire, ts the kernel's receive time (realtime ns).
func (c *capture) write(f []byte, wire uint32, ts int64) {
	if c.err != nil {
		return
	}
	le := binary.LittleEndian
	pad := (4 - len(f)&3) & 3
	total := uint32(ngEPBOverhead + len(f) + pad)
	le.PutUint32(c.hdr[0:], ngEPB)
	le.PutUint32(c.hdr[4:], total)
	le.PutUint32(c.hdr[8:], 0) // interface 0
	le.PutUint32(c.hdr[12:], uint32(uint64(ts)>>32))
	le.PutUint32(c.hdr[16:], uint32(ts))
	le.PutUint32(c.hdr[20:], uint32(len(f)))
	le.PutUint32(c.hdr[24:], wire)
	c.put(c.hdr[:])
	c.put(f)
	le.PutUint32(c.tail[4:], total)
	c.put(c.tail[4-pad:])
	c.n++
}

// close flushes the buffer and closes the file; it reports the first
// error of the capture.
func (c *capture) close() error {
	if c.err == nil {
		if err := c.w.Flush(); err != nil {
			c.err = fmt.Errorf("rx capture: writing %s: %w", c.path, err)
		}
	}
	if c.c != nil {
		if err := c.c.Close(); err != nil && c.err == nil {
			c.err = fmt.Errorf("rx capture: closing %s: %w", c.path, err)
		}
		c.c = nil
	}
	return c.err
}
