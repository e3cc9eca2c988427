package trace

import (
	"encoding/binary"
	"testing"
)

// craftCase is a capture built by hand: its bytes, the error both readers
// must report (nil: valid), whether OpenCapture reports it, and for valid
// files the timestamps (ns) and captured lengths of the packets.
type craftCase struct {
	name  string
	build func() ([]byte, *FormatError)
	open  bool
	ts    []int64
	lens  []int
}

// fe is a FormatError without its file name.
func fe(off int, rec int, reason string) *FormatError {
	return &FormatError{Offset: int64(off), Record: rec, Reason: reason}
}

var craftCases = []craftCase{
	// An empty file has no magic number.
	{name: "empty", open: true, build: func() ([]byte, *FormatError) {
		return nil, fe(0, -1, "truncated file header: 0 of 4 bytes of a magic number")
	}},
	// Neither pcap nor pcapng (a gzip header).
	{name: "gzip magic", open: true, build: func() ([]byte, *FormatError) {
		return []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0}, fe(0, -1, "unknown magic number 0x1f8b0800: not a pcap or pcapng file")
	}},
	// A pcap header cut after 10 bytes.
	{name: "pcap header cut", open: true, build: func() ([]byte, *FormatError) {
		return newPcap(false, false, 2, 4, 65535, 1).buf[:10], fe(0, -1, "truncated file header: 10 of 24 bytes")
	}},
	// Version 2.3 is refused like 1.4.
	{name: "pcap version 2.3", open: true, build: func() ([]byte, *FormatError) {
		return newPcap(true, false, 2, 3, 65535, 1).buf, fe(0, -1, "unsupported pcap version 2.3")
	}},
	// A record header cut after 7 of its 16 bytes.
	{name: "record header cut", build: func() ([]byte, *FormatError) {
		p := newPcap(false, false, 2, 4, 65535, 1).pkt(1, 2, frame(60, 1))
		off := len(p.buf)
		p.buf = append(p.buf, 1, 2, 3, 4, 5, 6, 7)
		return p.buf, fe(off, 1, "truncated record header: 7 of 16 bytes")
	}},
	// Packet data cut: 30 of the record's 76 bytes are there.
	{name: "record data cut", build: func() ([]byte, *FormatError) {
		p := newPcap(false, false, 2, 4, 65535, 1)
		p.pkt(1, 2, frame(60, 1))
		return p.buf[:24+30], fe(24, 0, "truncated record: 30 of 76 bytes")
	}},
	// A captured length above the header's snaplen.
	{name: "caplen above snaplen", build: func() ([]byte, *FormatError) {
		p := newPcap(false, false, 2, 4, 65535, 1).pkt(0, 0, frame(64, 0))
		off := len(p.buf)
		p.rec(1, 0, 70000, 70000, frame(70000, 2))
		return p.buf, fe(off, 1, "captured length 70000 exceeds snaplen 65535")
	}},
	// Snaplen 0 means no limit but MaxRecordLen's.
	{name: "snaplen 0", build: func() ([]byte, *FormatError) {
		p := newPcap(false, false, 2, 4, 0, 1).pkt(0, 5, frame(70000, 2))
		off := len(p.buf)
		p.rec(1, 0, MaxRecordLen, MaxRecordLen, nil)
		return p.buf, fe(off, 1, "captured length 16777216 exceeds the maximum 16777200")
	}},
	// A microsecond fraction of a whole second.
	{name: "µs fraction 1e6", build: func() ([]byte, *FormatError) {
		p := newPcap(false, false, 2, 4, 65535, 1).pkt(3, 999999, frame(60, 0))
		off := len(p.buf)
		p.pkt(3, 1000000, frame(60, 1))
		return p.buf, fe(off, 1, "fraction 1000000 >= 1e6 in a microsecond pcap")
	}},
	// More bytes captured than were on the wire.
	{name: "caplen above origlen", build: func() ([]byte, *FormatError) {
		p := newPcap(false, true, 2, 4, 65535, 1).rec(0, 0, 100, 60, frame(100, 0))
		return p.buf, fe(24, 0, "captured length 100 exceeds original length 60")
	}},
	// Big-endian nanosecond pcap, a truncated capture (64 of 1514 bytes).
	{name: "pcap big-endian ns", ts: []int64{7_000_000_123, 8_999_999_999}, lens: []int{64, 60},
		build: func() ([]byte, *FormatError) {
			p := newPcap(true, true, 2, 4, 64, 113).rec(7, 123, 64, 1514, frame(64, 0)).pkt(8, 999999999, frame(60, 1))
			return p.buf, nil
		}},
	// An EPB on interface 3 of a section with one.
	{name: "interface 3 undefined", build: func() ([]byte, *FormatError) {
		n := (&ngBuilder{}).shb(false).idb(1, 0).epb(0, 1, frame(60, 0), 60)
		off := len(n.buf)
		n.epb(3, 2, frame(60, 1), 60)
		return n.buf, fe(off, 1, "interface 3 not defined in this section")
	}},
	// A new section resets the interface numbering.
	{name: "section resets interfaces", build: func() ([]byte, *FormatError) {
		n := (&ngBuilder{}).shb(false).idb(1, 0).epb(0, 1, frame(60, 0), 60).shb(true)
		off := len(n.buf)
		n.epb(0, 2, frame(60, 1), 60)
		return n.buf, fe(off, 1, "interface 0 not defined in this section")
	}},
	// A simple packet block needs interface 0.
	{name: "SPB before IDB", build: func() ([]byte, *FormatError) {
		n := (&ngBuilder{}).shb(false)
		off := len(n.buf)
		n.spb(60, frame(60, 0))
		return n.buf, fe(off, 0, "interface 0 not defined in this section")
	}},
	// A captured length past the block's data room.
	{name: "EPB caplen past block", build: func() ([]byte, *FormatError) {
		n := (&ngBuilder{}).shb(false).idb(1, 0)
		off := len(n.buf)
		n.epb(0, 1, frame(64, 0), 100)
		binary.LittleEndian.PutUint32(n.buf[off+20:], 100)
		return n.buf, fe(off, 0, "captured length 100 exceeds block room 64")
	}},
	// An SPB whose original length (no snaplen) is past the block.
	{name: "SPB length past block", build: func() ([]byte, *FormatError) {
		n := (&ngBuilder{}).shb(false).idb(1, 0)
		off := len(n.buf)
		n.spb(1000, frame(64, 0))
		return n.buf, fe(off, 0, "captured length 1000 exceeds block room 64")
	}},
	// Head and tail lengths differ in a packet block.
	{name: "tail mismatch", build: func() ([]byte, *FormatError) {
		n := (&ngBuilder{}).shb(false).idb(1, 0)
		off := len(n.buf)
		n.epb(0, 1, frame(60, 0), 60)
		binary.LittleEndian.PutUint32(n.buf[len(n.buf)-4:], 0x30303030)
		return n.buf, fe(off, 0, "block total length 92 at the head but 808464432 at the tail")
	}},
	// A total length that is not a multiple of 4.
	{name: "length not aligned", build: func() ([]byte, *FormatError) {
		n := (&ngBuilder{}).shb(false).idb(1, 0)
		off := len(n.buf)
		n.epb(0, 1, frame(60, 0), 60)
		binary.LittleEndian.PutUint32(n.buf[off+4:], 90)
		return n.buf, fe(off, 0, "enhanced packet block total length 90 is not a multiple of 4")
	}},
	// An EPB too short for its fixed fields.
	{name: "EPB below minimum", build: func() ([]byte, *FormatError) {
		n := (&ngBuilder{}).shb(false).idb(1, 0)
		off := len(n.buf)
		n.block(ngEPBType, make([]byte, 16))
		return n.buf, fe(off, 0, "enhanced packet block total length 28 is below its minimum 32")
	}},
	// A block longer than any record may be.
	{name: "block too long", build: func() ([]byte, *FormatError) {
		n := (&ngBuilder{}).shb(false).idb(1, 0)
		off := len(n.buf)
		n.buf = binary.LittleEndian.AppendUint32(n.buf, 0x999)
		n.buf = binary.LittleEndian.AppendUint32(n.buf, MaxRecordLen+4)
		return n.buf, fe(off, 0, "block total length 16777220 exceeds the maximum 16777216")
	}},
	// A block header cut after 5 bytes.
	{name: "block header cut", build: func() ([]byte, *FormatError) {
		n := (&ngBuilder{}).shb(false).idb(1, 0)
		off := len(n.buf)
		n.buf = append(n.buf, 6, 0, 0, 0, 1)
		return n.buf, fe(off, 0, "truncated block header: 5 of 8 bytes")
	}},
	// An IDB option whose length runs past the block.
	{name: "option past block", build: func() ([]byte, *FormatError) {
		n := (&ngBuilder{}).shb(false)
		off := len(n.buf)
		n.idb(1, 0, opt{2, []byte("eth0")})
		binary.LittleEndian.PutUint16(n.buf[off+18:], 200)
		return n.buf, fe(off, 0, "option 2 of length 200 runs past the end of the interface description block")
	}},
	// An end-of-options option must be empty.
	{name: "end of options with a value", build: func() ([]byte, *FormatError) {
		n := (&ngBuilder{}).shb(false)
		off := len(n.buf)
		n.idb(1, 0, opt{2, []byte("eth0")})
		binary.LittleEndian.PutUint16(n.buf[off+26:], 4)
		return n.buf, fe(off, 0, "end-of-options option of length 4 in the interface description block")
	}},
	// 2^-64 s ticks cannot be counted in a uint64 rate.
	{name: "if_tsresol 2^-64", build: func() ([]byte, *FormatError) {
		n := (&ngBuilder{}).shb(false)
		off := len(n.buf)
		n.idb(1, 0, tsresol(0x80|64))
		return n.buf, fe(off, 0, "unsupported if_tsresol 0xc0")
	}},
	// if_tsresol is one byte.
	{name: "if_tsresol of 2 bytes", build: func() ([]byte, *FormatError) {
		n := (&ngBuilder{}).shb(false)
		off := len(n.buf)
		n.idb(1, 0, opt{9, []byte{6, 0}})
		return n.buf, fe(off, 0, "if_tsresol option of length 2, want 1")
	}},
	// A wrong byte-order magic.
	{name: "bad byte-order magic", open: true, build: func() ([]byte, *FormatError) {
		n := (&ngBuilder{}).shb(false)
		binary.LittleEndian.PutUint32(n.buf[8:], 0x12345678)
		return n.buf, fe(0, -1, "bad byte-order magic 0x78563412 in a section header block")
	}},
	// Major version 2 is not pcapng as we know it.
	{name: "pcapng version 2.0", open: true, build: func() ([]byte, *FormatError) {
		n := (&ngBuilder{}).shb(false)
		binary.LittleEndian.PutUint16(n.buf[12:], 2)
		return n.buf, fe(0, -1, "unsupported pcapng version 2.0")
	}},
	// An SHB cut inside its byte-order magic.
	{name: "SHB cut", open: true, build: func() ([]byte, *FormatError) {
		return (&ngBuilder{}).shb(false).buf[:10], fe(0, -1, "truncated section header block: 10 of 12 bytes")
	}},
	// A timestamp past 2262 does not fit int64 ns.
	{name: "timestamp overflow", build: func() ([]byte, *FormatError) {
		n := (&ngBuilder{}).shb(false).idb(1, 0)
		off := len(n.buf)
		n.epb(0, 1<<62, frame(60, 0), 60)
		return n.buf, fe(off, 0, "timestamp of 4611686018427387904 ticks at 1000000 per second overflows int64 nanoseconds")
	}},
	// Valid edge cases: a 2^-20 s resolution (exact, not 953 ns a tick),
	// if_tsoffset, an obsolete Packet Block, an SPB cut to the snaplen
	// (timestamp of the packet before), a custom and an unknown block, a
	// version 1.2 big-endian section, an IDB option of 65535 bytes and an
	// IDB snaplen of 2^32-1 (both of which pcapgo is shielded from).
	{name: "pcapng edge cases", lens: []int{40, 61, 40, 62, 63},
		ts: []int64{
			3_500_000_000,         // 3.5 s in 2^-20 s ticks
			11_001_000_000,        // 1.001 s in µs ticks + 10 s of if_tsoffset
			11_001_000_000,        // SPB: the previous packet's
			1_000_000_000_007_000, // PB in a big-endian 1.2 section, µs
			5,                     // ns ticks, interface with snaplen 2^32-1
		},
		build: func() ([]byte, *FormatError) {
			n := (&ngBuilder{}).shb(false).idb(1, 40, tsresol(0x94)).epb(0, 3<<20|1<<19, frame(40, 0), 60)
			tsoff := binary.LittleEndian.AppendUint64(nil, 10)
			n.idb(1, 0, opt{14, tsoff}).epb(1, 1_001_000, frame(61, 1), 61)
			n.spb(61, frame(40, 2)) // interface 0's snaplen (40) cuts it
			n.block(0x40000bad, make([]byte, 8)).block(0x7777, make([]byte, 20))
			n.shb(true)
			binary.BigEndian.PutUint16(n.buf[len(n.buf)-28+14:], 2) // version 1.2
			n.idb(1, 0, opt{2, make([]byte, 65535)})
			var pb []byte
			pb = binary.BigEndian.AppendUint16(pb, 0) // interface
			pb = binary.BigEndian.AppendUint16(pb, 0) // drops
			const pbTicks = 1_000_000_000_007
			pb = binary.BigEndian.AppendUint32(pb, pbTicks>>32)
			pb = binary.BigEndian.AppendUint32(pb, pbTicks&0xffffffff)
			pb = binary.BigEndian.AppendUint32(pb, 62)
			pb = binary.BigEndian.AppendUint32(pb, 62)
			n.block(ngPBType, pad4(append(pb, frame(62, 3)...)))
			n.idb(1, 0xffffffff, tsresol(9)).epb(1, 5, frame(63, 4), 63)
			return n.buf, nil
		}},
}

// TestCraftedCaptures runs both readers over hand-made captures: each
// malformation must give the same *FormatError, each valid file the same
// packets.
func TestCraftedCaptures(t *testing.T) {
	dir := t.TempDir()
	for i, c := range craftCases {
		t.Run(c.name, func(t *testing.T) {
			data, want := c.build()
			path := writeTemp(t, dir, "c"+string(rune('a'+i%26))+".cap", data)
			res := compareReaders(t, path, 4096)
			switch {
			case want == nil:
				if res.openErr != nil || res.err != nil {
					t.Fatalf("valid file: open %v, read %v", res.openErr, res.err)
				}
				if len(res.recs) != len(c.ts) {
					t.Fatalf("%d packets, want %d", len(res.recs), len(c.ts))
				}
				for j, r := range res.recs {
					if r.TS != c.ts[j] || len(r.Data) != c.lens[j] {
						t.Errorf("packet %d: TS %d, %d bytes; want %d, %d", j, r.TS, len(r.Data), c.ts[j], c.lens[j])
					}
				}
			case c.open:
				checkFormatErr(t, res.openErr, path, want)
			default:
				if res.openErr != nil {
					t.Fatalf("open: %v", res.openErr)
				}
				checkFormatErr(t, res.err, path, want)
				if len(res.recs) != want.Record {
					t.Errorf("%d packets before the error, want %d", len(res.recs), want.Record)
				}
			}
		})
	}
}

// TestOpenOptions checks OpenCapture's refusals that are not about the
// file's format.
func TestOpenOptions(t *testing.T) {
	dir := t.TempDir()
	path := writeTemp(t, dir, "ok.pcap", newPcap(false, false, 2, 4, 65535, 1).pkt(1, 2, frame(60, 0)).buf)
	cases := []struct {
		name string
		path string
		o    ReadOptions
	}{
		// An unknown reader.
		{"reader", path, ReadOptions{Reader: "fread"}},
		// A negative window.
		{"window", path, ReadOptions{Window: -1}},
		// A directory is not a regular file.
		{"directory", dir, ReadOptions{}},
		// A missing file.
		{"missing", dir + "/none", ReadOptions{}},
	}
	for _, c := range cases {
		if r, err := OpenCapture(c.path, c.o); err == nil || IsFormatError(err) {
			if r != nil {
				r.Close()
			}
			t.Errorf("%s: OpenCapture returned %v", c.name, err)
		}
	}
	for _, rd := range []string{"", "mmap", "buffered"} {
		r, err := OpenCapture(path, ReadOptions{Reader: rd})
		if err != nil {
			t.Fatalf("reader %q: %v", rd, err)
		}
		r.Close()
	}
}
