package trace

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// benchPackets is the size of the benchmarks' capture, in 64-byte
// packets (76 MiB with the record headers).
const benchPackets = 1_000_000

// writeBenchCapture writes n 64-byte packets 1 µs apart with pcapgo, as a
// pcap or (ng) a pcapng file.
func writeBenchCapture(b *testing.B, path string, n int, ng bool) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	var write func(gopacket.CaptureInfo, []byte) error
	if ng {
		w, err := pcapgo.NewNgWriter(bw, layers.LinkTypeEthernet)
		if err != nil {
			b.Fatal(err)
		}
		defer w.Flush()
		write = w.WritePacket
	} else {
		w := pcapgo.NewWriter(bw)
		if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
			b.Fatal(err)
		}
		write = w.WritePacket
	}
	data := frame(64, 0)
	t0 := time.Unix(1_700_000_000, 0)
	for i := range n {
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Microsecond), CaptureLength: 64, Length: 64}
		if err := write(ci, data); err != nil {
			b.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
}

// benchRead reads the capture over and over, one packet per iteration
// (so ns/op is ns per packet), reopening it at its end; the file was just
// written, so it is in the page cache.
func benchRead(b *testing.B, o ReadOptions, ng bool) {
	path := filepath.Join(b.TempDir(), "bench.cap")
	writeBenchCapture(b, path, benchPackets, ng)
	r, err := OpenCapture(path, o)
	if err != nil {
		b.Fatal(err)
	}
	var rec Record
	var bytes int
	for b.Loop() {
		err := r.Next(&rec)
		if errors.Is(err, io.EOF) {
			r.Close()
			if r, err = OpenCapture(path, o); err == nil {
				err = r.Next(&rec)
			}
		}
		if err != nil {
			b.Fatal(err)
		}
		bytes += len(rec.Data)
	}
	r.Close()
	if bytes != 64*b.N {
		b.Fatalf("%d bytes in %d packets", bytes, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}

// BenchmarkReadMmap reads a 1,000,000-packet pcap of 64-byte frames with
// the mmap reader.
func BenchmarkReadMmap(b *testing.B) { benchRead(b, ReadOptions{Reader: "mmap"}, false) }

// BenchmarkReadBuffered reads it with the buffered (pcapgo) reader.
func BenchmarkReadBuffered(b *testing.B) { benchRead(b, ReadOptions{Reader: "buffered"}, false) }

// BenchmarkReadMmapPcapng reads the same packets as pcapng with the mmap
// reader.
func BenchmarkReadMmapPcapng(b *testing.B) { benchRead(b, ReadOptions{Reader: "mmap"}, true) }

// BenchmarkReadBufferedPcapng reads them with the buffered reader.
func BenchmarkReadBufferedPcapng(b *testing.B) { benchRead(b, ReadOptions{Reader: "buffered"}, true) }
