package trace

import (
	"encoding/binary"
	"io"
	"os"
)

// The mmap readers parse the file in place: Record.Data is a view of the
// current mapping (see window), valid until the next call to Next, which
// may unmap it. Next allocates nothing per packet.

// mmapPcap reads a classic pcap file through a window.
type mmapPcap struct {
	f       *os.File
	file    string
	size    int64
	h       pcapHeader
	link    uint16
	w       *window
	d       []byte // the current mapping (nil after an error)
	base    int64  // file offset of d[0]
	pos     int    // offset of the next record in d: base+pos in the file
	index   int    // number of the next packet
	lenient bool
	end     endState
}

func newMmapPcap(f *os.File, path string, size int64, h pcapHeader, win int64, lenient bool) (*mmapPcap, error) {
	return &mmapPcap{f: f, file: path, size: size, h: h, link: uint16(h.link),
		w: newWindow(f, size, win), base: pcapHeaderLen, lenient: lenient}, nil
}

// Next fills r with the next packet. The fast path handles a record that
// is whole in the current mapping and valid; anything else (the end of
// the mapping or of the file, a malformed record) goes to slow.
func (m *mmapPcap) Next(r *Record) error {
	d, p := m.d, m.pos
	if p+pcapRecHeaderLen <= len(d) {
		h := d[p : p+pcapRecHeaderLen]
		var sec, frac, caplen, origlen uint32
		if m.h.big {
			sec, frac = binary.BigEndian.Uint32(h), binary.BigEndian.Uint32(h[4:])
			caplen, origlen = binary.BigEndian.Uint32(h[8:]), binary.BigEndian.Uint32(h[12:])
		} else {
			sec, frac = binary.LittleEndian.Uint32(h), binary.LittleEndian.Uint32(h[4:])
			caplen, origlen = binary.LittleEndian.Uint32(h[8:]), binary.LittleEndian.Uint32(h[12:])
		}
		e := p + pcapRecHeaderLen + int(caplen)
		if frac < m.h.fracMax && caplen <= m.h.capMax && caplen <= origlen && e <= len(d) {
			r.Index = m.index
			r.Offset = m.base + int64(p)
			r.TS = int64(sec)*1e9 + int64(frac)*m.h.mul
			r.LinkType = m.link
			r.OrigLen = int(origlen)
			r.Data = d[p+pcapRecHeaderLen : e : e]
			m.pos = e
			m.index++
			return nil
		}
	}
	return m.slow(r)
}

// slow reads the next record with every check spelled out, mapping the
// next window when the record is not whole in this one.
func (m *mmapPcap) slow(r *Record) error {
	if m.end.err != nil {
		return m.end.err
	}
	off := m.base + int64(m.pos)
	avail := m.size - off
	switch {
	case avail == 0:
		return m.stop(io.EOF)
	case avail < pcapRecHeaderLen:
		return m.stop(pcapTruncated(m.file, off, m.index, avail, pcapRecHeaderLen))
	}
	if err := m.move(off, pcapRecHeaderLen); err != nil {
		return m.stop(err)
	}
	ts, caplen, origlen, fe := m.h.check(m.file, m.d[m.pos:m.pos+pcapRecHeaderLen], off, m.index)
	if fe != nil {
		return m.stop(fe)
	}
	n := pcapRecHeaderLen + int(caplen)
	if avail < int64(n) {
		return m.stop(pcapTruncated(m.file, off, m.index, avail, int64(n)))
	}
	if err := m.move(off, n); err != nil {
		return m.stop(err)
	}
	p := m.pos
	r.Index, r.Offset, r.TS, r.LinkType, r.OrigLen = m.index, off, ts, m.link, int(origlen)
	r.Data = m.d[p+pcapRecHeaderLen : p+n : p+n]
	m.pos = p + n
	m.index++
	return nil
}

// move maps [off, off+n) and points d, base and pos at off.
func (m *mmapPcap) move(off int64, n int) error {
	if err := m.w.view(off, n); err != nil {
		return err
	}
	m.d, m.base, m.pos = m.w.cur.data, m.w.cur.base, int(off-m.w.cur.base)
	return nil
}

// stop ends the read with err; the fast path is off from now on.
func (m *mmapPcap) stop(err error) error {
	m.base += int64(m.pos)
	m.d, m.pos = nil, 0
	return m.end.fail(err, m.lenient, m.size)
}

// Info describes the file.
func (m *mmapPcap) Info() CaptureInfo {
	ci := m.h.info()
	m.end.fill(&ci)
	return ci
}

// Close unmaps the windows and closes the file.
func (m *mmapPcap) Close() error {
	m.w.close()
	m.d = nil
	return m.f.Close()
}

// mmapPcapng reads a pcapng file through a window.
type mmapPcapng struct {
	f       *os.File
	size    int64
	st      ngState
	w       *window
	d       []byte // the current mapping (nil after an error)
	base    int64  // file offset of d[0]
	pos     int    // offset of the next block in d
	lenient bool
	end     endState
}

// newMmapPcapng opens a pcapng reader and reads the first SHB, the file
// header.
func newMmapPcapng(f *os.File, path string, size, win int64, lenient bool) (*mmapPcapng, error) {
	m := &mmapPcapng{f: f, size: size, st: ngState{file: path}, w: newWindow(f, size, win), lenient: lenient}
	if _, err := m.step(nil); err != nil {
		m.w.close()
		return nil, err
	}
	return m, nil
}

// Next fills r with the next packet, passing over other blocks.
func (m *mmapPcapng) Next(r *Record) error {
	if m.end.err != nil {
		return m.end.err
	}
	for {
		index := m.st.packets
		pkt, err := m.step(r)
		if err != nil {
			m.base += int64(m.pos)
			m.d, m.pos = nil, 0
			return m.end.fail(err, m.lenient, m.size)
		}
		if pkt {
			r.Index = index
			return nil
		}
	}
}

// step decodes the block at the current offset and moves past it. It
// reports whether it was a packet, then in r (r may be nil only for the
// first SHB). Each step advances by at least 12 bytes or fails.
func (m *mmapPcapng) step(r *Record) (bool, error) {
	off := m.base + int64(m.pos)
	avail := m.size - off
	if avail == 0 {
		return false, io.EOF
	}
	hn := int(min(avail, 12))
	if err := m.need(off, hn); err != nil {
		return false, err
	}
	_, total, fe := m.st.head(m.d[m.pos:m.pos+hn], off)
	if fe != nil {
		return false, fe
	}
	if avail < int64(total) {
		return false, m.st.truncated(off, avail, int64(total))
	}
	if err := m.need(off, total); err != nil {
		return false, err
	}
	var scratch Record
	if r == nil {
		r = &scratch
	}
	pkt, _, fe := m.st.block(m.d[m.pos:m.pos+total], off, r)
	if fe != nil {
		return false, fe
	}
	m.pos += total
	return pkt, nil
}

// need makes [off, off+n) whole in d.
func (m *mmapPcapng) need(off int64, n int) error {
	if m.pos+n <= len(m.d) {
		return nil
	}
	if err := m.w.view(off, n); err != nil {
		return err
	}
	m.d, m.base, m.pos = m.w.cur.data, m.w.cur.base, int(off-m.w.cur.base)
	return nil
}

// Info describes the file as far as it has been read.
func (m *mmapPcapng) Info() CaptureInfo {
	ci := copyInfo(m.st.info)
	m.end.fill(&ci)
	return ci
}

// Close unmaps the windows and closes the file.
func (m *mmapPcapng) Close() error {
	m.w.close()
	m.d = nil
	return m.f.Close()
}
