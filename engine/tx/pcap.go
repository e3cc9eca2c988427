package tx

import (
	"encoding/binary"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/labrun/labrun/engine/clock"
)

// Pcap writes frames to a pcapng file whose timestamps are the actual send
// times (nanosecond resolution, wall clock). Blocks are built in a
// preallocated buffer; it is written out only when full and at Close, so
// for a buffer sized to the run (see PcapBufferFor) the timed loop makes no
// system calls.
type Pcap struct {
	f       *os.File
	path    string
	buf     []byte
	n       int
	offset  int64 // wall ns - monotonic ns
	snaplen int
	st      Stats
	err     error
}

const (
	blockSHB     = 0x0A0D0D0A
	blockIDB     = 0x00000001
	blockEPB     = 0x00000006
	byteMagic    = 0x1A2B3C4D
	linkEthernet = 1
	optTsresol   = 9
	epbOverhead  = 32 // EPB header and trailer without the padded frame
	maxPcapBuf   = 64 << 20
)

// PcapBufferFor returns a buffer size that holds count frames of at most
// frameLen bytes, capped at 64 MiB.
func PcapBufferFor(count, frameLen int) int {
	n := count * (epbOverhead + (frameLen+3)&^3)
	if n > maxPcapBuf || n < 0 {
		return maxPcapBuf
	}
	return n + 4096
}

// NewPcap creates path (truncating it) with a buffer of bufSize bytes.
func NewPcap(path string, bufSize, snaplen int) (*Pcap, error) {
	if bufSize < 64<<10 {
		bufSize = 64 << 10
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("pcap sink: %w", err)
	}
	var rt unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_REALTIME, &rt)
	mono := clock.Now()
	p := &Pcap{f: f, path: path, buf: make([]byte, bufSize), snaplen: snaplen,
		offset: rt.Sec*1e9 + rt.Nsec - mono}
	// Touch the buffer now so page faults do not land in the timed loop.
	for i := 0; i < len(p.buf); i += 4096 {
		p.buf[i] = 0
	}
	p.header()
	return p, nil
}

func (p *Pcap) put32(v uint32) { binary.LittleEndian.PutUint32(p.buf[p.n:], v); p.n += 4 }
func (p *Pcap) put16(v uint16) { binary.LittleEndian.PutUint16(p.buf[p.n:], v); p.n += 2 }

func (p *Pcap) header() {
	// Section Header Block: version 1.0, unknown section length.
	p.put32(blockSHB)
	p.put32(28)
	p.put32(byteMagic)
	p.put16(1)
	p.put16(0)
	p.put32(0xffffffff)
	p.put32(0xffffffff)
	p.put32(28)
	// Interface Description Block: Ethernet, if_tsresol = 9 (ns).
	p.put32(blockIDB)
	p.put32(32)
	p.put16(linkEthernet)
	p.put16(0)
	p.put32(uint32(p.snaplen))
	p.put16(optTsresol)
	p.put16(1)
	p.put32(9) // value byte 9, then 3 bytes padding
	p.put32(0) // opt_endofopt
	p.put32(32)
}

// Send implements Sink.
func (p *Pcap) Send(frame []byte, at int64) error {
	capLen := len(frame)
	if p.snaplen > 0 && capLen > p.snaplen {
		capLen = p.snaplen
	}
	padded := (capLen + 3) &^ 3
	total := epbOverhead + padded
	if p.n+total > len(p.buf) {
		if err := p.flush(); err != nil {
			p.st.Errors++
			return err
		}
		if total > len(p.buf) {
			p.st.Errors++
			return fmt.Errorf("pcap sink: frame of %d bytes larger than the buffer", len(frame))
		}
	}
	ts := uint64(at + p.offset)
	p.put32(blockEPB)
	p.put32(uint32(total))
	p.put32(0)
	p.put32(uint32(ts >> 32))
	p.put32(uint32(ts))
	p.put32(uint32(capLen))
	p.put32(uint32(len(frame)))
	copy(p.buf[p.n:], frame[:capLen])
	clear(p.buf[p.n+capLen : p.n+padded])
	p.n += padded
	p.put32(uint32(total))
	p.st.Packets++
	p.st.Bytes += int64(len(frame))
	return nil
}

func (p *Pcap) flush() error {
	if p.err != nil {
		return p.err
	}
	if _, err := p.f.Write(p.buf[:p.n]); err != nil {
		p.err = fmt.Errorf("pcap sink: writing %s: %w", p.path, err)
		return p.err
	}
	p.n = 0
	return nil
}

// Close implements Sink.
func (p *Pcap) Close() error {
	err := p.flush()
	if cerr := p.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("pcap sink: %w", cerr)
	}
	return err
}

// Stats implements Sink.
func (p *Pcap) Stats() Stats { return p.st }

// WallTime converts a clock.Now reading to the wall-clock time the sink
// writes for it.
func (p *Pcap) WallTime(at int64) time.Time { return time.Unix(0, at+p.offset) }
