package trace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// ReadOptions chooses how OpenCapture reads a capture file.
type ReadOptions struct {
	// Reader is "mmap" (the default when empty): a zero-copy parser over
	// a double-buffered memory-mapped window; or "buffered": gopacket's
	// pcapgo over a bufio.Reader, which copies every packet (the fread
	// baseline).
	Reader string
	// Window is the mmap reader's window in bytes, rounded up to a whole
	// page; 0 means DefaultWindow. The buffered reader ignores it.
	Window int64
	// Lenient ends a read at the first malformed record with io.EOF
	// instead of a *FormatError, so the valid prefix is replayed;
	// Info().Lenient then holds the error and Info().DroppedBytes what
	// was left unread. A malformed file header fails OpenCapture anyway.
	Lenient bool
}

// DefaultWindow is the mmap reader's default window, as NetVCR maps it.
const DefaultWindow = 32 << 20

// MaxRecordLen bounds one record: a pcap record header with its packet
// data, or a whole pcapng block. Larger ones are reported as malformed
// (libpcap's pcapng reader starts from the same 16 MiB bound).
const MaxRecordLen = 16 << 20

// Magic numbers, as the first four bytes of the file read little-endian.
const (
	pcapMagicMicro   = 0xa1b2c3d4
	pcapMagicNano    = 0xa1b23c4d
	pcapMagicMicroBE = 0xd4c3b2a1
	pcapMagicNanoBE  = 0x4d3cb2a1
	ngSHBType        = 0x0a0d0d0a
)

// OpenCapture opens a pcap or pcapng file, told apart by its magic number
// (not its name), with the reader o asks for. It reads and checks the file
// header; a malformed one is a *FormatError. The file must be a regular
// file that nobody truncates while it is read: the mmap reader would take
// a SIGBUS on the pages that vanished. Both readers read the file as long
// as it was when opened, so bytes appended later are not seen, and a
// record cut by that length is reported as truncated.
func OpenCapture(path string, o ReadOptions) (CaptureReader, error) {
	switch o.Reader {
	case "", "mmap", "buffered":
	default:
		return nil, fmt.Errorf("capture reader %q: want \"mmap\" or \"buffered\"", o.Reader)
	}
	if o.Window < 0 {
		return nil, fmt.Errorf("capture window %d bytes: must be >= 0", o.Window)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	size := fi.Size()
	var head [pcapHeaderLen]byte
	n, err := f.ReadAt(head[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, err
	}
	var r CaptureReader
	switch {
	case n < 4:
		err = &FormatError{File: path, Offset: 0, Record: -1,
			Reason: fmt.Sprintf("truncated file header: %d of 4 bytes of a magic number", n)}
	case binary.LittleEndian.Uint32(head[:]) == ngSHBType:
		if o.Reader == "buffered" {
			r, err = newBufferedPcapng(f, path, size, o.Lenient)
		} else {
			r, err = newMmapPcapng(f, path, size, o.Window, o.Lenient)
		}
	default:
		var h pcapHeader
		if h, err = parsePcapHeader(path, head[:n]); err != nil {
			break
		}
		if o.Reader == "buffered" {
			r, err = newBufferedPcap(f, path, size, h, o.Lenient)
		} else {
			r, err = newMmapPcap(f, path, size, h, o.Window, o.Lenient)
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// endState is what ends a read: the sticky error Next returns again and
// again, and what Info reports about a lenient ending.
type endState struct {
	err     error
	lenient *FormatError
	dropped int64
}

// fail records err as the end of the read and returns what Next returns:
// io.EOF in place of a *FormatError when lenient.
func (e *endState) fail(err error, lenient bool, size int64) error {
	var fe *FormatError
	if lenient && errors.As(err, &fe) {
		e.lenient = fe
		e.dropped = size - fe.Offset
		e.err = io.EOF
		return io.EOF
	}
	e.err = err
	return err
}

// fill copies the end state into an Info.
func (e *endState) fill(ci *CaptureInfo) {
	ci.Lenient = e.lenient
	ci.DroppedBytes = e.dropped
}

// addDistinct appends v to s unless s has it.
func addDistinct[T comparable](s []T, v T) []T {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// copyInfo returns ci with its slices copied, so a caller cannot change
// the reader's.
func copyInfo(ci CaptureInfo) CaptureInfo {
	ci.LinkTypes = append([]uint16(nil), ci.LinkTypes...)
	ci.TickRates = append([]uint64(nil), ci.TickRates...)
	return ci
}

// formatErr returns a *FormatError for the file, offset and record.
func formatErr(file string, off int64, record int, format string, args ...any) *FormatError {
	return &FormatError{File: file, Offset: off, Record: record, Reason: fmt.Sprintf(format, args...)}
}
