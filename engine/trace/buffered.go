package trace

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/google/gopacket/pcapgo"
)

// The buffered readers are the fread baseline: gopacket's pcapgo reading
// through a bufio.Reader, copying each packet into a buffer it reuses
// (ZeroCopyReadPacketData). pcapgo is lax where the mmap reader is
// strict, so they check what it does not with the same functions (pcap.go,
// pcapng.go) before it reads, and the two readers agree record for record.

// bufSize is the buffered readers' bufio size.
const bufSize = 64 << 10

// countingReader counts the bytes read through it, so a reader can tell
// the file offset of what its bufio.Reader hands out next.
type countingReader struct {
	r io.Reader
	n int64
}

// Read reads from the underlying reader and counts.
func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// bufferedPcap reads a classic pcap file with pcapgo.Reader, which reads
// straight from br (pcapgo keeps a *bufio.Reader it is given), so br's
// position is pcapgo's.
type bufferedPcap struct {
	f       *os.File
	file    string
	size    int64
	h       pcapHeader
	link    uint16
	cnt     *countingReader
	br      *bufio.Reader
	pr      *pcapgo.Reader
	pgSnap  uint32 // the snaplen pcapgo checks captured lengths against
	index   int
	lenient bool
	end     endState
}

func newBufferedPcap(f *os.File, path string, size int64, h pcapHeader, lenient bool) (*bufferedPcap, error) {
	cnt := &countingReader{r: f}
	br := bufio.NewReaderSize(cnt, bufSize)
	pr, err := pcapgo.NewReader(br)
	if err != nil {
		return nil, formatErr(path, 0, -1, "pcapgo: %v", err)
	}
	// pcapgo rejects every record of a file whose snaplen is 0 and sizes
	// its buffer by the snaplen (up to 4 GiB): give it a small one and
	// double it when a record needs more (check has bounded the record).
	b := &bufferedPcap{f: f, file: path, size: size, h: h, link: uint16(h.link), cnt: cnt, br: br, pr: pr,
		pgSnap: min(h.capMax, 2048), lenient: lenient}
	pr.SetSnaplen(b.pgSnap)
	return b, nil
}

// offset is the file offset of the next byte pcapgo will read.
func (b *bufferedPcap) offset() int64 { return b.cnt.n - int64(b.br.Buffered()) }

// Next peeks at the record header to validate it, then lets pcapgo read
// the record.
func (b *bufferedPcap) Next(r *Record) error {
	if b.end.err != nil {
		return b.end.err
	}
	off := b.offset()
	avail := b.size - off
	switch {
	case avail == 0:
		return b.stop(io.EOF)
	case avail < pcapRecHeaderLen:
		return b.stop(pcapTruncated(b.file, off, b.index, avail, pcapRecHeaderLen))
	}
	rh, err := b.br.Peek(pcapRecHeaderLen)
	if err != nil {
		return b.stop(fmt.Errorf("%s: byte offset %d: %w", b.file, off, err))
	}
	ts, caplen, origlen, fe := b.h.check(b.file, rh, off, b.index)
	if fe != nil {
		return b.stop(fe)
	}
	if n := int64(pcapRecHeaderLen) + int64(caplen); avail < n {
		return b.stop(pcapTruncated(b.file, off, b.index, avail, n))
	}
	if caplen > b.pgSnap {
		b.pgSnap = max(caplen, min(2*b.pgSnap, b.h.capMax))
		b.pr.SetSnaplen(b.pgSnap)
	}
	data, ci, err := b.pr.ZeroCopyReadPacketData()
	if err != nil {
		return b.stop(fmt.Errorf("%s: byte offset %d: pcapgo: %w", b.file, off, err))
	}
	if len(data) != int(caplen) || ci.Length != int(origlen) || ci.Timestamp.UnixNano() != ts {
		return b.stop(fmt.Errorf("%s: byte offset %d: pcapgo read %d/%d bytes at %d ns, the header says %d/%d at %d",
			b.file, off, len(data), ci.Length, ci.Timestamp.UnixNano(), caplen, origlen, ts))
	}
	r.Index, r.Offset, r.TS, r.LinkType, r.OrigLen, r.Data = b.index, off, ts, b.link, ci.Length, data
	b.index++
	return nil
}

func (b *bufferedPcap) stop(err error) error { return b.end.fail(err, b.lenient, b.size) }

// Info describes the file.
func (b *bufferedPcap) Info() CaptureInfo {
	ci := b.h.info()
	b.end.fill(&ci)
	return ci
}

// Close closes the file.
func (b *bufferedPcap) Close() error { return b.f.Close() }
