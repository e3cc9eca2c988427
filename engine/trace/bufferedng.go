package trace

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/google/gopacket/pcapgo"
)

// pcapgo's NgReader parses several blocks per call and trusts every
// length it reads: a short block, an option running past its block or a
// captured length past the block's end make it read the next block's
// bytes as this one's, allocate what a length field asks, or divide by a
// zero if_tsresol. So it reads through ngFeeder, an io.Reader that hands
// it whole blocks only after ngState has validated them, and stops with
// the *FormatError the mmap reader gives at the first bad one.

// ngPending is a packet block the feeder has passed to pcapgo and pcapgo
// has not returned yet.
type ngPending struct {
	off    int64
	ts     int64
	link   uint16
	orig   int
	caplen int
	iface  int
}

// ngFeeder validates a pcapng stream block by block and serves the valid
// blocks to pcapgo.
type ngFeeder struct {
	cnt  *countingReader
	br   *bufio.Reader
	size int64
	st   ngState
	buf  []byte // the current block, as pcapgo sees it
	rd   int    // how much of buf pcapgo has read
	err  error  // what Read returns once buf is drained
	q    []ngPending
	qh   int // q[qh:] are pending
}

// Read hands out the current block, then validates the next.
func (f *ngFeeder) Read(p []byte) (int, error) {
	for f.rd == len(f.buf) {
		if f.err != nil {
			return 0, f.err
		}
		f.next()
	}
	n := copy(p, f.buf[f.rd:])
	f.rd += n
	return n, nil
}

// next reads and validates the next block into buf, or sets err.
func (f *ngFeeder) next() {
	f.buf, f.rd = f.buf[:0], 0
	off := f.cnt.n - int64(f.br.Buffered())
	avail := f.size - off
	if avail == 0 {
		f.err = io.EOF
		return
	}
	h, err := f.br.Peek(int(min(avail, 12)))
	if err != nil {
		f.err = fmt.Errorf("%s: byte offset %d: %w", f.st.file, off, err)
		return
	}
	_, total, fe := f.st.head(h, off)
	if fe != nil {
		f.err = fe
		return
	}
	if avail < int64(total) {
		f.err = f.st.truncated(off, avail, int64(total))
		return
	}
	b := f.buf[:0]
	if cap(b) < total {
		b = make([]byte, 0, total)
	}
	b = b[:total]
	if _, err := io.ReadFull(f.br, b); err != nil {
		f.err = fmt.Errorf("%s: byte offset %d: %w", f.st.file, off, err)
		return
	}
	var r Record
	pkt, iface, fe := f.st.block(b, off, &r)
	if fe != nil {
		f.err = fe
		return
	}
	if pkt {
		if f.qh == len(f.q) {
			f.q, f.qh = f.q[:0], 0
		}
		f.q = append(f.q, ngPending{off: off, ts: r.TS, link: r.LinkType, orig: r.OrigLen, caplen: len(r.Data), iface: iface})
	}
	f.patch(b)
	f.buf = b
}

// patch edits the copy of a valid block that pcapgo reads where pcapgo
// would misread it, without changing what it decodes from it:
//   - a 1.2 SHB is shown as 1.0 (pcapgo knows only 1.0; libpcap reads
//     both, the layout is the same);
//   - an IDB snaplen above MaxRecordLen is shown as MaxRecordLen (pcapgo
//     allocates a packet buffer of the snaplen; no packet is larger);
//   - an option of length 65533 to 65535 in a block whose options pcapgo
//     parses ends the option list there (pcapgo adds its padding in 16
//     bits, which wraps to 0, and loses its place in the block).
func (f *ngFeeder) patch(b []byte) {
	var opts int
	switch f.st.u32(b) {
	case ngSHBType:
		if f.st.u16(b[14:]) == 2 {
			b[14], b[15] = 0, 0
		}
		opts = 24
	case ngIDBType:
		if f.st.u32(b[12:]) > MaxRecordLen {
			f.put32(b[12:], MaxRecordLen)
		}
		opts = 16
	case ngISBType:
		opts = 20
	default:
		return
	}
	for p, end := opts, len(b)-4; p+4 <= end; {
		code, n := f.st.u16(b[p:]), int(f.st.u16(b[p+2:]))
		if code == 0 {
			return
		}
		if n > 65532 {
			clear(b[p : p+4])
			return
		}
		p += 4 + (n+3)&^3
	}
}

// put32 writes v in the section's byte order.
func (f *ngFeeder) put32(b []byte, v uint32) {
	if f.st.big {
		b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	} else {
		b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
}

// pop returns the oldest pending packet.
func (f *ngFeeder) pop() (ngPending, bool) {
	if f.qh == len(f.q) {
		return ngPending{}, false
	}
	f.qh++
	return f.q[f.qh-1], true
}

// bufferedPcapng reads a pcapng file with pcapgo.NgReader through an
// ngFeeder. Timestamps and link types come from the feeder: pcapgo keeps
// link types in a uint8 (276, LINUX_SLL2, becomes 20) and converts
// power-of-2 resolutions with a truncated scale (953 ns a tick for 2^-20).
type bufferedPcapng struct {
	f       *os.File
	size    int64
	feed    *ngFeeder
	pr      *pcapgo.NgReader
	index   int
	lenient bool
	end     endState
}

// newBufferedPcapng opens the reader; pcapgo reads the first SHB.
func newBufferedPcapng(f *os.File, path string, size int64, lenient bool) (*bufferedPcapng, error) {
	cnt := &countingReader{r: f}
	feed := &ngFeeder{cnt: cnt, br: bufio.NewReaderSize(cnt, bufSize), size: size, st: ngState{file: path}}
	pr, err := pcapgo.NewNgReader(feed, pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		if feed.err != nil && errors.Is(err, feed.err) {
			return nil, err
		}
		return nil, formatErr(path, 0, -1, "pcapgo: %v", err)
	}
	return &bufferedPcapng{f: f, size: size, feed: feed, pr: pr, lenient: lenient}, nil
}

// Next lets pcapgo read the next packet and pairs it with what the feeder
// decoded from the same block.
func (b *bufferedPcapng) Next(r *Record) error {
	if b.end.err != nil {
		return b.end.err
	}
	data, ci, err := b.pr.ZeroCopyReadPacketData()
	if err != nil {
		if b.feed.err == nil || !errors.Is(err, b.feed.err) {
			err = fmt.Errorf("%s: after packet %d: pcapgo: %w", b.feed.st.file, b.index, err)
		}
		return b.end.fail(err, b.lenient, b.size)
	}
	p, ok := b.feed.pop()
	if !ok || p.caplen != len(data) || p.orig != ci.Length || p.iface != ci.InterfaceIndex {
		err = fmt.Errorf("%s: packet %d: pcapgo read %d/%d bytes on interface %d, the block at offset %d has %d/%d on %d",
			b.feed.st.file, b.index+1, len(data), ci.Length, ci.InterfaceIndex, p.off, p.caplen, p.orig, p.iface)
		return b.end.fail(err, b.lenient, b.size)
	}
	r.Index, r.Offset, r.TS, r.LinkType, r.OrigLen, r.Data = b.index, p.off, p.ts, p.link, p.orig, data
	b.index++
	return nil
}

// Info describes the file as far as the feeder has read it (a block or
// so ahead of pcapgo).
func (b *bufferedPcapng) Info() CaptureInfo {
	ci := copyInfo(b.feed.st.info)
	b.end.fill(&ci)
	return ci
}

// Close closes the file.
func (b *bufferedPcapng) Close() error { return b.f.Close() }
