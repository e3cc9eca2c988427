// Command gencap writes a deterministic classic pcap of N Ethernet/IPv4/
// UDP frames, for bench/read.sh: the same bytes every time, one frame
// every microsecond from 2026-01-01 00:00:00 UTC, each carrying its
// sequence number.
//
// Usage: gencap [-n 1000000] [-size 64] [-o FILE]
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

func main() {
	n := flag.Int("n", 1_000_000, "number of packets")
	size := flag.Int("size", 64, "captured bytes per packet (60 to 9216)")
	out := flag.String("o", "bench.pcap", "output file")
	flag.Parse()
	if err := run(*out, *n, *size); err != nil {
		fmt.Fprintln(os.Stderr, "gencap:", err)
		os.Exit(1)
	}
}

// frame builds an Ethernet/IPv4/UDP frame of size bytes (UDP checksum 0,
// IPv4 checksum computed) between addresses of the RFC 2544 range.
func frame(size int) []byte {
	b := make([]byte, size)
	copy(b[0:], []byte{0x02, 0x6c, 0x72, 0, 0, 2, 0x02, 0x6c, 0x72, 0, 0, 1, 0x08, 0x00})
	ip := b[14:34]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(size-14))
	copy(ip[12:], []byte{198, 18, 0, 1, 198, 18, 0, 2})
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	udp := b[34:42]
	binary.BigEndian.PutUint16(udp[0:], 49152)
	binary.BigEndian.PutUint16(udp[2:], 9)
	binary.BigEndian.PutUint16(udp[4:], uint16(size-34))
	copy(b[42:], "LRUN")
	return b
}

func run(path string, n, size int) error {
	if n < 0 || size < 60 || size > 9216 {
		return fmt.Errorf("want -n >= 0 and -size in [60, 9216], got %d and %d", n, size)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriter(bw)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return err
	}
	data := frame(size)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		binary.BigEndian.PutUint64(data[46:], uint64(i))
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Microsecond), CaptureLength: size, Length: size}
		if err := w.WritePacket(ci, data); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}
