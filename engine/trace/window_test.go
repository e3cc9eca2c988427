package trace

import (
	"bufio"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// genPacket is one packet of a generated capture.
type genPacket struct {
	ts   int64 // ns since the epoch
	data []byte
}

// genPackets makes about total bytes of packets of varied sizes (40 to
// 1514 bytes, and every 97th a 70,000-byte one, larger than a 64 KiB
// window's overlap), one every 1.234567 ms; µs keeps the timestamps whole
// microseconds.
func genPackets(total int, us bool) []genPacket {
	var out []genPacket
	ts := int64(1_700_000_000_123_456_789)
	for n, i := 0, 0; n < total; i++ {
		size := 40 + (i*7919)%1475
		if i%97 == 96 {
			size = 70000
		}
		t := ts
		if us {
			t = t / 1000 * 1000
		}
		out = append(out, genPacket{ts: t, data: frame(size, i)})
		n += size + 16
		ts += 1_234_567
	}
	return out
}

// writeGen writes packets in one of the generated formats.
func writeGen(t *testing.T, path, format string, pkts []genPacket) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriter(f)
	ci := func(p genPacket) gopacket.CaptureInfo {
		return gopacket.CaptureInfo{Timestamp: time.Unix(0, p.ts), CaptureLength: len(p.data), Length: len(p.data)}
	}
	switch format {
	case "pcap-le-us", "pcap-le-ns":
		w := pcapgo.NewWriter(bw)
		if format == "pcap-le-ns" {
			w = pcapgo.NewWriterNanos(bw)
		}
		if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
			t.Fatal(err)
		}
		for _, p := range pkts {
			if err := w.WritePacket(ci(p), p.data); err != nil {
				t.Fatal(err)
			}
		}
	case "pcap-be-us", "pcap-be-ns":
		nano := format == "pcap-be-ns"
		b := newPcap(true, nano, 2, 4, 262144, 1)
		bw.Write(b.buf)
		for _, p := range pkts {
			b.buf = b.buf[:0]
			frac := uint32(p.ts % 1e9)
			if !nano {
				frac /= 1000
			}
			bw.Write(b.pkt(uint32(p.ts/1e9), frac, p.data).buf)
		}
	case "pcapng-le-ns":
		w, err := pcapgo.NewNgWriterInterface(bw, pcapgo.NgInterface{LinkType: layers.LinkTypeEthernet, SnapLength: 262144},
			pcapgo.NgWriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pkts {
			if err := w.WritePacket(ci(p), p.data); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	case "pcapng-be-us":
		n := (&ngBuilder{}).shb(true).idb(1, 0)
		bw.Write(n.buf)
		for _, p := range pkts {
			n.buf = n.buf[:0]
			bw.Write(n.epb(0, uint64(p.ts/1000), p.data, uint32(len(p.data))).buf)
		}
	default:
		t.Fatalf("format %q", format)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
}

// genFormats are the generated variants: pcap in both byte orders and
// resolutions, pcapng from pcapgo (little-endian, ns) and by hand
// (big-endian, µs).
var genFormats = []string{"pcap-le-us", "pcap-le-ns", "pcap-be-us", "pcap-be-ns", "pcapng-le-ns", "pcapng-be-us"}

// TestWindowChanges reads a generated ~1 MB capture through a 64 KiB
// window (16 windows and more, records straddling their boundaries, some
// larger than the overlap) and a 5000-byte one (rounded up to a page),
// and checks every packet against what was written and against the
// buffered reader.
func TestWindowChanges(t *testing.T) {
	dir := t.TempDir()
	for _, format := range genFormats {
		t.Run(format, func(t *testing.T) {
			pkts := genPackets(1<<20, format != "pcap-le-ns" && format != "pcap-be-ns" && format != "pcapng-le-ns")
			path := filepath.Join(dir, format)
			writeGen(t, path, format, pkts)
			for _, win := range []int64{64 << 10, 5000, 0} {
				res := compareReaders(t, path, win)
				if res.openErr != nil || res.err != nil {
					t.Fatalf("window %d: %v %v", win, res.openErr, res.err)
				}
				if len(res.recs) != len(pkts) {
					t.Fatalf("window %d: %d packets, want %d", win, len(res.recs), len(pkts))
				}
				for i, r := range res.recs {
					if r.TS != pkts[i].ts || string(r.Data) != string(pkts[i].data) || r.OrigLen != len(pkts[i].data) || r.LinkType != 1 {
						t.Fatalf("window %d: packet %d differs: TS %d (want %d), %d bytes (want %d)",
							win, i, r.TS, pkts[i].ts, len(r.Data), len(pkts[i].data))
					}
				}
			}
			// The 64 KiB window moved through the file rather than map it whole.
			r, err := OpenCapture(path, ReadOptions{Window: 64 << 10})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var rec Record
			for r.Next(&rec) == nil {
			}
			var w *window
			switch m := r.(type) {
			case *mmapPcap:
				w = m.w
			case *mmapPcapng:
				w = m.w
			}
			size := fileSize(t, path)
			if w.maps < int(size/(64<<10)) {
				t.Errorf("%d mappings for %d bytes in 64 KiB windows", w.maps, size)
			}
			t.Logf("%d packets, %d bytes, %d mappings of 64 KiB windows", len(pkts), size, w.maps)
		})
	}
}

// TestMmapNoAllocs checks that the mmap readers' Next allocates nothing
// per packet, window changes included.
func TestMmapNoAllocs(t *testing.T) {
	dir := t.TempDir()
	for _, format := range []string{"pcap-le-us", "pcap-be-ns", "pcapng-le-ns", "pcapng-be-us"} {
		path := filepath.Join(dir, format)
		var pkts []genPacket
		for i := range 20000 {
			pkts = append(pkts, genPacket{ts: int64(i) * 1000, data: frame(60+i%200, i)})
		}
		writeGen(t, path, format, pkts)
		r, err := OpenCapture(path, ReadOptions{Window: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		var rec Record
		allocs := testing.AllocsPerRun(10000, func() {
			if err := r.Next(&rec); err != nil {
				t.Fatal(err)
			}
		})
		r.Close()
		if allocs != 0 {
			t.Errorf("%s: %v allocations per Next", format, allocs)
		}
	}
}
