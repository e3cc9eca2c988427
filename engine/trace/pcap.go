package trace

import "encoding/binary"

// The classic pcap format: a 24-byte file header, then records of a
// 16-byte header (seconds, fraction, captured length, original length)
// and the captured bytes. Both readers validate with the functions here,
// so they accept and reject the same files with the same words.

const (
	pcapHeaderLen    = 24
	pcapRecHeaderLen = 16
	// pcapMaxCapLen is the largest captured length a record may have.
	pcapMaxCapLen = MaxRecordLen - pcapRecHeaderLen
)

// pcapHeader is a parsed pcap file header.
type pcapHeader struct {
	big     bool   // big-endian fields
	nano    bool   // nanosecond fractions
	snap    uint32 // snapshot length from the header (0: none given)
	capMax  uint32 // largest captured length accepted
	link    uint32 // link type field (the low 16 bits are the link type)
	fracMax uint32 // 1e9 or 1e6: fractions must be below it
	mul     int64  // ns per fraction tick: 1 or 1000
}

// parsePcapHeader checks the first bytes of a file (up to 24) whose magic
// is not pcapng's.
func parsePcapHeader(file string, b []byte) (pcapHeader, error) {
	var h pcapHeader
	switch magic := binary.LittleEndian.Uint32(b); magic {
	case pcapMagicMicro:
	case pcapMagicNano:
		h.nano = true
	case pcapMagicMicroBE:
		h.big = true
	case pcapMagicNanoBE:
		h.big, h.nano = true, true
	default:
		return h, formatErr(file, 0, -1, "unknown magic number 0x%08x: not a pcap or pcapng file", binary.BigEndian.Uint32(b))
	}
	if len(b) < pcapHeaderLen {
		return h, formatErr(file, 0, -1, "truncated file header: %d of %d bytes", len(b), pcapHeaderLen)
	}
	bo := h.order()
	if major, minor := bo.Uint16(b[4:]), bo.Uint16(b[6:]); major != 2 || minor != 4 {
		return h, formatErr(file, 0, -1, "unsupported pcap version %d.%d", major, minor)
	}
	h.snap = bo.Uint32(b[16:])
	h.link = bo.Uint32(b[20:])
	h.capMax = h.snap
	if h.snap == 0 || h.snap > pcapMaxCapLen {
		h.capMax = pcapMaxCapLen
	}
	h.fracMax, h.mul = 1_000_000, 1000
	if h.nano {
		h.fracMax, h.mul = 1_000_000_000, 1
	}
	return h, nil
}

// order is the header's byte order.
func (h *pcapHeader) order() binary.ByteOrder {
	if h.big {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// fields decodes a record header.
func (h *pcapHeader) fields(rh []byte) (sec, frac, caplen, origlen uint32) {
	if h.big {
		return binary.BigEndian.Uint32(rh), binary.BigEndian.Uint32(rh[4:]),
			binary.BigEndian.Uint32(rh[8:]), binary.BigEndian.Uint32(rh[12:])
	}
	return binary.LittleEndian.Uint32(rh), binary.LittleEndian.Uint32(rh[4:]),
		binary.LittleEndian.Uint32(rh[8:]), binary.LittleEndian.Uint32(rh[12:])
}

// check validates the record header rh of packet index at byte offset off
// and returns its timestamp in ns and lengths. The mmap reader's fast path
// inlines the same three tests.
func (h *pcapHeader) check(file string, rh []byte, off int64, index int) (ts int64, caplen, origlen uint32, err *FormatError) {
	sec, frac, caplen, origlen := h.fields(rh)
	switch {
	case frac >= h.fracMax && h.nano:
		return 0, 0, 0, formatErr(file, off, index, "fraction %d >= 1e9 in a nanosecond pcap", frac)
	case frac >= h.fracMax:
		return 0, 0, 0, formatErr(file, off, index, "fraction %d >= 1e6 in a microsecond pcap", frac)
	case caplen > h.capMax && h.capMax == h.snap:
		return 0, 0, 0, formatErr(file, off, index, "captured length %d exceeds snaplen %d", caplen, h.snap)
	case caplen > h.capMax:
		return 0, 0, 0, formatErr(file, off, index, "captured length %d exceeds the maximum %d", caplen, h.capMax)
	case caplen > origlen:
		return 0, 0, 0, formatErr(file, off, index, "captured length %d exceeds original length %d", caplen, origlen)
	}
	return int64(sec)*1e9 + int64(frac)*h.mul, caplen, origlen, nil
}

// truncated reports a record that the end of the file cuts: have of the
// want bytes of its header or of the whole record are there.
func pcapTruncated(file string, off int64, index int, have, want int64) *FormatError {
	if want == pcapRecHeaderLen {
		return formatErr(file, off, index, "truncated record header: %d of %d bytes", have, want)
	}
	return formatErr(file, off, index, "truncated record: %d of %d bytes", have, want)
}

// info describes the header.
func (h *pcapHeader) info() CaptureInfo {
	ci := CaptureInfo{Format: "pcap", ByteOrder: "little", Resolution: h.mul, Version: "2.4",
		SnapLen: int(h.snap), LinkTypes: []uint16{uint16(h.link)}}
	if h.big {
		ci.ByteOrder = "big"
	}
	ci.TickRates = []uint64{uint64(1e9 / h.mul)}
	return ci
}
