package trace

import (
	"errors"
	"fmt"
)

// Record is one packet of a capture file.
type Record struct {
	// Index is the record's number among the packets of the file, from 0.
	Index int
	// Offset is the byte offset of the record's header in the file.
	Offset int64
	// TS is the capture timestamp in nanoseconds since the Unix epoch.
	TS int64
	// LinkType is the link type of the record's interface (1 = Ethernet).
	LinkType uint16
	// OrigLen is the packet's length on the wire; len(Data) is the captured
	// length.
	OrigLen int
	// Data is the captured bytes. It is valid until the next call to Next;
	// a reader may hand out a view into its buffer or mapping.
	Data []byte
}

// CaptureReader reads the packets of one capture file in file order.
type CaptureReader interface {
	// Next fills r with the next packet. It returns io.EOF after the last
	// one and a *FormatError for a malformed file.
	Next(r *Record) error
	// Info describes the file as far as it has been read.
	Info() CaptureInfo
	// Close releases the file.
	Close() error
}

// CaptureInfo is what a reader knows about its file's format.
type CaptureInfo struct {
	Format string // "pcap" or "pcapng"
	// ByteOrder is "little" or "big" (pcap), or that of the first section.
	ByteOrder string
	// Resolution is the timestamp resolution in nanoseconds per tick of the
	// first interface (1000 for microsecond pcap, 1 for nanosecond).
	Resolution int64
	// Version is the format version, e.g. "2.4" or "1.0".
	Version string
	// Sections and Interfaces count pcapng sections and interfaces seen.
	Sections, Interfaces int

	// SnapLen is the pcap header's snapshot length, or that of the first
	// pcapng interface (0: unlimited).
	SnapLen int
	// LinkTypes are the distinct link types of the file's interfaces, in
	// the order they were first seen (one entry for a pcap file).
	LinkTypes []uint16
	// TickRates are the distinct timestamp resolutions of the file's
	// interfaces in ticks per second, in the order first seen: 1e6 for
	// microseconds, 1e9 for nanoseconds, 1<<20 for if_tsresol 0x94.
	TickRates []uint64
	// SPBs counts the pcapng Simple Packet Blocks read. They carry no
	// timestamp: their Record.TS is that of the previous packet of the
	// file (0 if there is none).
	SPBs int
	// Lenient is the malformation that ended a lenient read (ReadOptions
	// Lenient), nil if none: the reader returned io.EOF in its place.
	Lenient *FormatError
	// DroppedBytes is how many bytes a lenient read left unread: from
	// Lenient's offset to the end of the file.
	DroppedBytes int64
}

// FormatError is a malformed capture: the file, where, and what was wrong.
type FormatError struct {
	File   string
	Offset int64 // byte offset of the bad header or block
	Record int   // packet number (from 0) being read, -1 in the file header
	Reason string
}

func (e *FormatError) Error() string {
	where := "file header"
	if e.Record >= 0 {
		where = fmt.Sprintf("packet %d", e.Record+1)
	}
	return fmt.Sprintf("%s: byte offset %d (%s): %s", e.File, e.Offset, where, e.Reason)
}

// IsFormatError reports whether err is a malformed capture.
func IsFormatError(err error) bool {
	var fe *FormatError
	return errors.As(err, &fe)
}
