package trace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// tracesDir holds the repository's test captures (testdata/captures at
// the root; README.md there says where each comes from).
const tracesDir = "../../testdata/captures"

// needTraces fails the test when the test captures are not there.
func needTraces(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(tracesDir, "README.md")); err != nil {
		t.Fatalf("test captures not found at %s: %v", tracesDir, err)
	}
}

// readers are the ReadOptions.Reader values under test.
var readers = []string{"mmap", "buffered"}

// readResult is everything a reader returned for a file.
type readResult struct {
	recs    []Record // with Data copied
	info    CaptureInfo
	openErr error
	err     error // what ended the read: nil for io.EOF
}

// readAll reads path to its end or first error, checking that the reader
// stops within a bound (every record takes at least 12 bytes) and stays
// stopped.
func readAll(t testing.TB, path string, o ReadOptions) readResult {
	t.Helper()
	var res readResult
	r, err := OpenCapture(path, o)
	if err != nil {
		res.openErr = err
		return res
	}
	defer r.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	bound := int(fi.Size()/12) + 2
	var rec Record
	for i := 0; ; i++ {
		if i > bound {
			t.Fatalf("%s (%s): more than %d records from %d bytes", path, o.Reader, bound, fi.Size())
		}
		err := r.Next(&rec)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				res.err = err
			}
			if err2 := r.Next(&rec); err2 != err && !(errors.Is(err, io.EOF) && errors.Is(err2, io.EOF)) {
				t.Fatalf("%s (%s): Next after %v returned %v", path, o.Reader, err, err2)
			}
			break
		}
		c := rec
		c.Data = append([]byte(nil), rec.Data...)
		res.recs = append(res.recs, c)
	}
	res.info = r.Info()
	return res
}

// sameRecords reports the first difference between two record lists.
func sameRecords(a, b []Record) error {
	for i := range min(len(a), len(b)) {
		x, y := a[i], b[i]
		if x.Index != y.Index || x.Offset != y.Offset || x.TS != y.TS || x.LinkType != y.LinkType ||
			x.OrigLen != y.OrigLen || string(x.Data) != string(y.Data) {
			return fmt.Errorf("record %d: {Index %d Offset %d TS %d LinkType %d OrigLen %d len %d} vs {%d %d %d %d %d %d}",
				i, x.Index, x.Offset, x.TS, x.LinkType, x.OrigLen, len(x.Data), y.Index, y.Offset, y.TS, y.LinkType, y.OrigLen, len(y.Data))
		}
	}
	if len(a) != len(b) {
		return fmt.Errorf("%d records vs %d", len(a), len(b))
	}
	return nil
}

// sameErr reports whether two errors say the same: equal *FormatErrors,
// or both nil.
func sameErr(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	var fa, fb *FormatError
	if errors.As(a, &fa) && errors.As(b, &fb) {
		return *fa == *fb
	}
	return false
}

// compareReaders reads a file with both readers, the mmap one with the
// given window, strictly and leniently, and fails the test if they
// disagree in any record, error or lenient ending. It returns the mmap
// reader's strict result.
func compareReaders(t testing.TB, path string, window int64) readResult {
	t.Helper()
	return compare(t, path, window, true)
}

// compare is compareReaders, the lenient reads only if lenient.
func compare(t testing.TB, path string, window int64, lenient bool) readResult {
	t.Helper()
	m := readAll(t, path, ReadOptions{Reader: "mmap", Window: window})
	b := readAll(t, path, ReadOptions{Reader: "buffered"})
	if !sameErr(m.openErr, b.openErr) {
		t.Fatalf("%s: open: mmap %v, buffered %v", path, m.openErr, b.openErr)
	}
	if err := sameRecords(m.recs, b.recs); err != nil {
		t.Fatalf("%s: mmap and buffered differ: %v (mmap ended with %v, buffered with %v)", path, err, m.err, b.err)
	}
	if !sameErr(m.err, b.err) {
		t.Fatalf("%s: after %d records: mmap %v, buffered %v", path, len(m.recs), m.err, b.err)
	}
	if m.openErr == nil && lenient {
		ml := readAll(t, path, ReadOptions{Reader: "mmap", Window: window, Lenient: true})
		bl := readAll(t, path, ReadOptions{Reader: "buffered", Lenient: true})
		if ml.err != nil || bl.err != nil {
			t.Fatalf("%s: lenient reads returned errors: mmap %v, buffered %v", path, ml.err, bl.err)
		}
		if err := sameRecords(ml.recs, m.recs); err != nil {
			t.Fatalf("%s: lenient mmap differs from strict: %v", path, err)
		}
		if err := sameRecords(bl.recs, m.recs); err != nil {
			t.Fatalf("%s: lenient buffered differs from strict: %v", path, err)
		}
		if !sameErr(lenientErr(ml.info), m.err) || !sameErr(lenientErr(bl.info), m.err) {
			t.Fatalf("%s: lenient reads ended with %v (mmap), %v (buffered); the strict one with %v",
				path, lenientErr(ml.info), lenientErr(bl.info), m.err)
		}
		if ml.info.DroppedBytes != bl.info.DroppedBytes {
			t.Fatalf("%s: dropped %d bytes (mmap) vs %d (buffered)", path, ml.info.DroppedBytes, bl.info.DroppedBytes)
		}
	}
	return m
}

// lenientErr is Info().Lenient as an error (nil if none).
func lenientErr(ci CaptureInfo) error {
	if ci.Lenient == nil {
		return nil
	}
	return ci.Lenient
}

// writeTemp writes data to a file in dir and returns its path.
func writeTemp(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// byteOrder reads and appends in one byte order.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// pcapBuilder builds a classic pcap file by hand: the header, then records
// given as (sec, frac, caplen, origlen, data).
type pcapBuilder struct {
	bo  byteOrder
	buf []byte
}

func newPcap(big, nano bool, major, minor uint16, snap, link uint32) *pcapBuilder {
	p := &pcapBuilder{bo: binary.LittleEndian}
	if big {
		p.bo = binary.BigEndian
	}
	magic := uint32(pcapMagicMicro)
	if nano {
		magic = pcapMagicNano
	}
	p.buf = p.bo.AppendUint32(p.buf, magic)
	p.buf = p.bo.AppendUint16(p.buf, major)
	p.buf = p.bo.AppendUint16(p.buf, minor)
	p.buf = p.bo.AppendUint32(p.buf, 0)
	p.buf = p.bo.AppendUint32(p.buf, 0)
	p.buf = p.bo.AppendUint32(p.buf, snap)
	p.buf = p.bo.AppendUint32(p.buf, link)
	return p
}

// rec appends a record whose header says caplen and origlen; data is
// written as given.
func (p *pcapBuilder) rec(sec, frac, caplen, origlen uint32, data []byte) *pcapBuilder {
	p.buf = p.bo.AppendUint32(p.buf, sec)
	p.buf = p.bo.AppendUint32(p.buf, frac)
	p.buf = p.bo.AppendUint32(p.buf, caplen)
	p.buf = p.bo.AppendUint32(p.buf, origlen)
	p.buf = append(p.buf, data...)
	return p
}

// pkt appends a well-formed record of data.
func (p *pcapBuilder) pkt(sec, frac uint32, data []byte) *pcapBuilder {
	return p.rec(sec, frac, uint32(len(data)), uint32(len(data)), data)
}

// ngBuilder builds a pcapng file by hand, block by block, in either byte
// order (each SHB may switch it).
type ngBuilder struct {
	bo  byteOrder
	buf []byte
}

// opt is a pcapng option.
type opt struct {
	code uint16
	val  []byte
}

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// opts encodes options with an end-of-options.
func (n *ngBuilder) opts(os ...opt) []byte {
	var b []byte
	for _, o := range os {
		b = n.bo.AppendUint16(b, o.code)
		b = n.bo.AppendUint16(b, uint16(len(o.val)))
		b = pad4(append(b, o.val...))
	}
	if len(os) > 0 {
		b = append(b, 0, 0, 0, 0)
	}
	return b
}

// block appends a block of type typ with body, lengths filled in.
func (n *ngBuilder) block(typ uint32, body []byte) *ngBuilder {
	total := uint32(12 + len(body))
	n.buf = n.bo.AppendUint32(n.buf, typ)
	n.buf = n.bo.AppendUint32(n.buf, total)
	n.buf = append(n.buf, body...)
	n.buf = n.bo.AppendUint32(n.buf, total)
	return n
}

// shb starts a section in the given byte order.
func (n *ngBuilder) shb(big bool, os ...opt) *ngBuilder {
	n.bo = binary.LittleEndian
	if big {
		n.bo = binary.BigEndian
	}
	var b []byte
	b = n.bo.AppendUint32(b, ngBOM)
	b = n.bo.AppendUint16(b, 1)
	b = n.bo.AppendUint16(b, 0)
	b = n.bo.AppendUint64(b, ^uint64(0))
	return n.block(ngSHBType, append(b, n.opts(os...)...))
}

// idb adds an interface.
func (n *ngBuilder) idb(link uint16, snap uint32, os ...opt) *ngBuilder {
	var b []byte
	b = n.bo.AppendUint16(b, link)
	b = n.bo.AppendUint16(b, 0)
	b = n.bo.AppendUint32(b, snap)
	return n.block(ngIDBType, append(b, n.opts(os...)...))
}

// epb adds an enhanced packet block.
func (n *ngBuilder) epb(iface uint32, ticks uint64, data []byte, orig uint32, os ...opt) *ngBuilder {
	var b []byte
	b = n.bo.AppendUint32(b, iface)
	b = n.bo.AppendUint32(b, uint32(ticks>>32))
	b = n.bo.AppendUint32(b, uint32(ticks))
	b = n.bo.AppendUint32(b, uint32(len(data)))
	b = n.bo.AppendUint32(b, orig)
	b = pad4(append(b, data...))
	return n.block(ngEPBType, append(b, n.opts(os...)...))
}

// spb adds a simple packet block.
func (n *ngBuilder) spb(orig uint32, data []byte) *ngBuilder {
	b := n.bo.AppendUint32(nil, orig)
	return n.block(ngSPBType, pad4(append(b, data...)))
}

// tsresol is an if_tsresol option.
func tsresol(v byte) opt { return opt{9, []byte{v}} }

// frame returns n bytes of a recognisable pattern seeded by seed.
func frame(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seed*31 + i*7)
	}
	return b
}

// fileSize is path's size.
func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
