package tx

import (
	"encoding/binary"

	"github.com/labrun/labrun/engine/clock"
	"github.com/labrun/labrun/engine/frame"
)

// Marks are the times a marked Send finished its own steps, on the
// clock.Now scale: what the replay loop's profiler needs to split a Send
// into frame work and system call. A step the sink did not take has the
// time of the step before it.
type Marks struct {
	Pad  int64 // the frame's checks and padding ended
	Csum int64 // its checksum ended: what is left of Send is the system call
}

// Marker is a sink that can say where, inside a Send, its frame work ends
// and its system call starts. SendMarked is Send with m filled in; the
// profiler calls it on sampled packets only, so Send itself costs what it
// did. It does not allocate.
type Marker interface {
	SendMarked(frame []byte, at int64, m *Marks) error
}

// padder does NetVCR's "padded payloads": a frame cut short by its
// capture's snaplen is sent at its full IP length, the bytes the capture
// did not keep sent as zeros, and its TCP or UDP checksum computed again
// over the whole padded segment, zeros included, as NetVCR's sending loop
// did. Only IPv4 TCP and UDP (not fragments) are padded and checksummed;
// other frames go as they are. It works in a buffer of its own and does
// not allocate.
type padder struct {
	buf   []byte // the longest VLAN-tagged frame
	max   int    // the longest untagged frame
	l3    int    // IPv4 header of the frame pad last returned
	l4    int    // its TCP or UDP header
	end   int    // 0: pad left the frame alone, no checksum to do
	proto byte
}

func newPadder(max, maxVLAN int) *padder { return &padder{buf: make([]byte, maxVLAN), max: max} }

// pad returns frame padded with zeros to its IPv4 total length, in the
// padder's buffer, or frame itself when it is not to be padded.
func (d *padder) pad(f []byte) []byte {
	d.end = 0
	if len(f) < ethHeader+vlanTag+20 {
		return f
	}
	l3, limit := ethHeader, d.max
	et := binary.BigEndian.Uint16(f[12:])
	if et == 0x8100 || et == 0x88a8 {
		l3, limit = l3+vlanTag, len(d.buf)
		et = binary.BigEndian.Uint16(f[16:])
	}
	ip := f[l3:]
	if et != 0x0800 || ip[0]>>4 != 4 {
		return f
	}
	ihl := int(ip[0]&0x0f) * 4
	proto := ip[9]
	hdr := 8 // UDP
	if proto == 6 {
		hdr = 20
	}
	end := l3 + int(binary.BigEndian.Uint16(ip[2:]))
	switch {
	case proto != 6 && proto != 17, binary.BigEndian.Uint16(ip[6:])&0x3fff != 0:
		return f // not TCP or UDP, or a fragment
	case ihl < 20 || l3+ihl+hdr > min(len(f), end) || end > limit:
		return f // a header cut short, or longer than the interface takes
	}
	n := copy(d.buf, f[:min(len(f), end)])
	clear(d.buf[n:end])
	d.l3, d.l4, d.end, d.proto = l3, l3+ihl, end, proto
	return d.buf[:end]
}

// checksum recomputes the TCP or UDP checksum of the frame pad returned.
func (d *padder) checksum() {
	if d.end == 0 {
		return
	}
	b := d.buf
	seg := b[d.l4:d.end]
	field := 6 // UDP
	if d.proto == 6 {
		field = 16
	}
	if d.proto == 17 && seg[field] == 0 && seg[field+1] == 0 {
		return // UDP over IPv4 without a checksum keeps none
	}
	ip := b[d.l3:]
	pseudo := uint32(binary.BigEndian.Uint16(ip[12:])) + uint32(binary.BigEndian.Uint16(ip[14:])) +
		uint32(binary.BigEndian.Uint16(ip[16:])) + uint32(binary.BigEndian.Uint16(ip[18:])) +
		uint32(d.proto) + uint32(len(seg))
	seg[field], seg[field+1] = 0, 0
	c := frame.Checksum(seg, pseudo)
	if c == 0 && d.proto == 17 {
		c = 0xffff // 0 means "no checksum" in UDP
	}
	binary.BigEndian.PutUint16(seg[field:], c)
}

// SendMarked implements Marker: Send, with the end of the padding and of
// the checksum marked (both at the end of the frame checks without Pad).
func (p *Packet) SendMarked(f []byte, at int64, m *Marks) error {
	if n := len(f); n < ethHeader || n > p.max || p.closed {
		if err := p.check(f); err != nil {
			p.st.Errors++
			m.Pad = clock.Now()
			m.Csum = m.Pad
			return err
		}
	}
	if p.pad != nil {
		f = p.pad.pad(f)
		m.Pad = clock.Now()
		p.pad.checksum()
		m.Csum = clock.Now()
	} else {
		m.Pad = clock.Now()
		m.Csum = m.Pad
	}
	return p.sendChecked(f)
}

// FramePadder pads frames as a Packet sink with Pad sends them, off the
// timed loop: for a receiver that must know the frames it will see.
type FramePadder struct{ d *padder }

// NewFramePadder pads for an interface whose longest untagged frame is
// maxFrame bytes (the MTU plus the Ethernet header).
func NewFramePadder(maxFrame int) FramePadder {
	return FramePadder{newPadder(maxFrame, maxFrame+vlanTag)}
}

// Pad returns the frame the sink sends for f: f itself, or the padded
// frame in the padder's buffer, valid until the next call.
func (p FramePadder) Pad(f []byte) []byte {
	out := p.d.pad(f)
	p.d.checksum()
	return out
}
