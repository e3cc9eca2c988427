package trace

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// The pcapng format: a sequence of blocks, each with a type, a total
// length at its head and again at its tail, and a body. A Section Header
// Block (SHB) starts every section, sets its byte order and resets the
// interface numbering; Interface Description Blocks (IDB) define the
// section's interfaces in order; packets come in Enhanced (EPB), Simple
// (SPB) and the obsolete Packet Blocks (PB). Both readers validate and
// decode blocks with ngState, so they agree by construction; the mmap
// reader hands it views of its mapping, the buffered reader copies.

// Block types and the byte-order magic.
const (
	ngIDBType = 1
	ngPBType  = 2
	ngSPBType = 3
	ngISBType = 5
	ngEPBType = 6
	ngBOM     = 0x1a2b3c4d
)

// MaxInterfaces bounds the interface description blocks of a pcapng file,
// over all its sections: each costs the readers memory and time for the
// rest of the read, and real captures have a handful. A file with more
// is refused as malformed.
const MaxInterfaces = 4096

// ngMinLen is the smallest total length of a block of each known type.
func ngMinLen(typ uint32) (int, string) {
	switch typ {
	case ngSHBType:
		return 28, "section header block"
	case ngIDBType:
		return 20, "interface description block"
	case ngPBType:
		return 32, "packet block"
	case ngSPBType:
		return 16, "simple packet block"
	case ngISBType:
		return 24, "interface statistics block"
	case ngEPBType:
		return 32, "enhanced packet block"
	}
	return 12, "block"
}

// ngIface is an interface of the current section.
type ngIface struct {
	link     uint16
	snap     uint32
	rate     uint64 // timestamp ticks per second
	mul      int64  // ns per tick if whole (1e9 % rate == 0), else 0
	maxTicks uint64 // with mul: larger tick counts overflow int64 ns
	maxSec   uint64 // without mul: larger second counts overflow
	offNs    int64  // if_tsoffset in ns
}

// ns converts a timestamp in ticks to ns since the epoch, exactly (rounded
// down), and reports whether it fits an int64.
func (f *ngIface) ns(ticks uint64) (int64, bool) {
	if f.mul != 0 {
		if ticks > f.maxTicks {
			return 0, false
		}
		return int64(ticks)*f.mul + f.offNs, true
	}
	sec, frac := ticks/f.rate, ticks%f.rate
	if sec > f.maxSec {
		return 0, false
	}
	hi, lo := bits.Mul64(frac, 1e9)
	fracNs, _ := bits.Div64(hi, lo, f.rate) // hi < rate since frac < rate
	return int64(sec)*1e9 + int64(fracNs) + f.offNs, true
}

// ngState is the decoding state of a pcapng file: the current section's
// byte order and interfaces, and what Info reports.
type ngState struct {
	file    string
	big     bool
	ifaces  []ngIface
	info    CaptureInfo
	packets int   // packets decoded so far: the index of the next one
	lastTS  int64 // timestamp of the last packet, for SPBs
}

func (s *ngState) u16(b []byte) uint16 {
	if s.big {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (s *ngState) u32(b []byte) uint32 {
	if s.big {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

// recNo is the packet number an error at off names: -1 for the file's
// first SHB (the file header), else the packet being read.
func (s *ngState) recNo(off int64) int {
	if off == 0 {
		return -1
	}
	return s.packets
}

// head decodes the start of the block at off: b holds its first bytes,
// 12 or as many as the file has left. It returns the block's type and
// total length, checked for bounds; an SHB also sets the byte order.
func (s *ngState) head(b []byte, off int64) (uint32, int, *FormatError) {
	if len(b) < 8 {
		return 0, 0, formatErr(s.file, off, s.recNo(off), "truncated block header: %d of 8 bytes", len(b))
	}
	typ := s.u32(b)
	if typ == ngSHBType {
		if len(b) < 12 {
			return 0, 0, formatErr(s.file, off, s.recNo(off), "truncated section header block: %d of 12 bytes", len(b))
		}
		switch binary.LittleEndian.Uint32(b[8:]) {
		case ngBOM:
			s.big = false
		case bits.ReverseBytes32(ngBOM):
			s.big = true
		default:
			return 0, 0, formatErr(s.file, off, s.recNo(off), "bad byte-order magic 0x%08x in a section header block", binary.BigEndian.Uint32(b[8:]))
		}
	}
	total := s.u32(b[4:])
	minLen, what := ngMinLen(typ)
	switch {
	case total%4 != 0:
		return 0, 0, formatErr(s.file, off, s.recNo(off), "%s total length %d is not a multiple of 4", what, total)
	case total < uint32(minLen):
		return 0, 0, formatErr(s.file, off, s.recNo(off), "%s total length %d is below its minimum %d", what, total, minLen)
	case total > MaxRecordLen:
		return 0, 0, formatErr(s.file, off, s.recNo(off), "%s total length %d exceeds the maximum %d", what, total, MaxRecordLen)
	}
	return typ, int(total), nil
}

// truncated reports a block that the end of the file cuts.
func (s *ngState) truncated(off int64, have, want int64) *FormatError {
	return formatErr(s.file, off, s.recNo(off), "truncated block: %d of %d bytes", have, want)
}

// block validates and decodes the whole block b at off, whose head has
// passed head. For a packet it fills r (all but Index; Data is a view of
// b) and returns true and the interface's number.
func (s *ngState) block(b []byte, off int64, r *Record) (bool, int, *FormatError) {
	total := len(b)
	if tail := s.u32(b[total-4:]); tail != uint32(total) {
		return false, 0, formatErr(s.file, off, s.recNo(off), "block total length %d at the head but %d at the tail", total, tail)
	}
	end := total - 4 // the body ends where the trailing length starts
	switch typ := s.u32(b); typ {
	case ngEPBType, ngPBType:
		var id uint32
		if typ == ngEPBType {
			id = s.u32(b[8:])
		} else {
			id = uint32(s.u16(b[8:]))
		}
		if id >= uint32(len(s.ifaces)) {
			return false, 0, formatErr(s.file, off, s.packets, "interface %d not defined in this section", id)
		}
		f := &s.ifaces[id]
		ticks := uint64(s.u32(b[12:]))<<32 | uint64(s.u32(b[16:]))
		caplen, origlen := s.u32(b[20:]), s.u32(b[24:])
		if room := total - 32; caplen > uint32(room) {
			return false, 0, formatErr(s.file, off, s.packets, "captured length %d exceeds block room %d", caplen, room)
		}
		data := 28 + int(caplen)
		if err := s.options(b, (data+3)&^3, end, off, "packet block", nil); err != nil {
			return false, 0, err
		}
		ts, ok := f.ns(ticks)
		if !ok {
			return false, 0, formatErr(s.file, off, s.packets, "timestamp of %d ticks at %d per second overflows int64 nanoseconds", ticks, f.rate)
		}
		r.Offset, r.TS, r.LinkType, r.OrigLen, r.Data = off, ts, f.link, int(origlen), b[28:data:data]
		s.lastTS = ts
		s.packets++
		return true, int(id), nil
	case ngSPBType:
		if len(s.ifaces) == 0 {
			return false, 0, formatErr(s.file, off, s.packets, "interface 0 not defined in this section")
		}
		f := &s.ifaces[0]
		origlen := s.u32(b[8:])
		caplen := origlen
		if f.snap != 0 && f.snap < caplen {
			caplen = f.snap
		}
		if room := total - 16; caplen > uint32(room) {
			return false, 0, formatErr(s.file, off, s.packets, "captured length %d exceeds block room %d", caplen, room)
		}
		data := 12 + int(caplen)
		r.Offset, r.TS, r.LinkType, r.OrigLen, r.Data = off, s.lastTS, f.link, int(origlen), b[12:data:data]
		s.info.SPBs++
		s.packets++
		return true, 0, nil
	case ngSHBType:
		return false, 0, s.section(b, off, end)
	case ngIDBType:
		return false, 0, s.iface(b, off, end)
	case ngISBType:
		if id := s.u32(b[8:]); id >= uint32(len(s.ifaces)) {
			return false, 0, formatErr(s.file, off, s.recNo(off), "interface %d not defined in this section", id)
		}
		return false, 0, s.options(b, 20, end, off, "interface statistics block", nil)
	}
	// Name resolution, decryption secrets, custom and unknown blocks are
	// skipped by their length.
	return false, 0, nil
}

// section starts a new section from its SHB.
func (s *ngState) section(b []byte, off int64, end int) *FormatError {
	major, minor := s.u16(b[12:]), s.u16(b[14:])
	if major != 1 || (minor != 0 && minor != 2) { // libpcap also reads 1.2
		return formatErr(s.file, off, s.recNo(off), "unsupported pcapng version %d.%d", major, minor)
	}
	if err := s.options(b, 24, end, off, "section header block", nil); err != nil {
		return err
	}
	s.ifaces = s.ifaces[:0]
	s.info.Sections++
	if s.info.Sections == 1 {
		s.info.Format = "pcapng"
		s.info.ByteOrder = "little"
		if s.big {
			s.info.ByteOrder = "big"
		}
		s.info.Version = "1.0"
		if minor == 2 {
			s.info.Version = "1.2"
		}
	}
	return nil
}

// iface adds an interface from its IDB.
func (s *ngState) iface(b []byte, off int64, end int) *FormatError {
	if s.info.Interfaces >= MaxInterfaces {
		return formatErr(s.file, off, s.recNo(off), "more than %d interface description blocks (labrun's bound; a capture has a handful)", MaxInterfaces)
	}
	f := ngIface{link: s.u16(b[8:]), snap: s.u32(b[12:]), rate: 1e6}
	var offSec int64
	err := s.options(b, 16, end, off, "interface description block", func(code uint16, v []byte) *FormatError {
		switch code {
		case 9: // if_tsresol
			if len(v) != 1 {
				return formatErr(s.file, off, s.recNo(off), "if_tsresol option of length %d, want 1", len(v))
			}
			e := uint64(v[0] & 0x7f)
			switch {
			case v[0]&0x80 != 0 && e <= 63:
				f.rate = 1 << e
			case v[0]&0x80 == 0 && e <= 19:
				f.rate = 1
				for range e {
					f.rate *= 10
				}
			default:
				return formatErr(s.file, off, s.recNo(off), "unsupported if_tsresol 0x%02x", v[0])
			}
		case 14: // if_tsoffset
			if len(v) != 8 {
				return formatErr(s.file, off, s.recNo(off), "if_tsoffset option of length %d, want 8", len(v))
			}
			offSec = int64(binary.LittleEndian.Uint64(v))
			if s.big {
				offSec = int64(binary.BigEndian.Uint64(v))
			}
			if offSec > math.MaxInt64/int64(1e9) || offSec < -math.MaxInt64/int64(1e9) {
				return formatErr(s.file, off, s.recNo(off), "if_tsoffset %d s out of range", offSec)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	f.offNs = offSec * 1e9
	room := uint64(math.MaxInt64 - max(f.offNs, 0))
	if 1e9%f.rate == 0 {
		f.mul = int64(1e9 / f.rate)
		f.maxTicks = room / uint64(f.mul)
	} else {
		f.maxSec = (room - 999_999_999) / 1e9
	}
	s.ifaces = append(s.ifaces, f)
	s.info.Interfaces++
	s.info.LinkTypes = addDistinct(s.info.LinkTypes, f.link)
	s.info.TickRates = addDistinct(s.info.TickRates, f.rate)
	if s.info.Interfaces == 1 {
		s.info.Resolution = int64(1e9 / f.rate) // 0 if finer than 1 ns
		s.info.SnapLen = int(f.snap)
	}
	return nil
}

// options checks the options in b[start:end]: each must fit before end,
// and an end-of-options option (which ends the list) must be empty. It
// calls fn, if not nil, with each option's code and value.
func (s *ngState) options(b []byte, start, end int, off int64, what string, fn func(code uint16, v []byte) *FormatError) *FormatError {
	for p := start; p < end; {
		if p+4 > end {
			return formatErr(s.file, off, s.recNo(off), "truncated option header at byte %d of the %s", p, what)
		}
		code, n := s.u16(b[p:]), int(s.u16(b[p+2:]))
		if code == 0 {
			if n != 0 {
				return formatErr(s.file, off, s.recNo(off), "end-of-options option of length %d in the %s", n, what)
			}
			return nil
		}
		next := p + 4 + (n+3)&^3
		if next > end {
			return formatErr(s.file, off, s.recNo(off), "option %d of length %d runs past the end of the %s", code, n, what)
		}
		if fn != nil {
			if err := fn(code, b[p+4:p+4+n]); err != nil {
				return err
			}
		}
		p = next
	}
	return nil
}
