package trace

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// boundaries walks a valid capture and returns the file offsets where
// its records or blocks end, the file header's end first.
func boundaries(data []byte) []int64 {
	var out []int64
	if binary.LittleEndian.Uint32(data) != ngSHBType {
		h, err := parsePcapHeader("", data)
		if err != nil {
			return nil
		}
		off := int64(pcapHeaderLen)
		out = append(out, off)
		for off+pcapRecHeaderLen <= int64(len(data)) {
			_, _, caplen, _ := h.fields(data[off:])
			off += pcapRecHeaderLen + int64(caplen)
			out = append(out, off)
		}
		return out
	}
	var bo binary.ByteOrder = binary.LittleEndian
	for off := int64(0); off+12 <= int64(len(data)); {
		if binary.LittleEndian.Uint32(data[off:]) == ngSHBType {
			bo = binary.LittleEndian
			if binary.LittleEndian.Uint32(data[off+8:]) != ngBOM {
				bo = binary.BigEndian
			}
		}
		off += int64(bo.Uint32(data[off+4:]))
		out = append(out, off)
	}
	return out
}

// TestTruncation cuts valid captures at every byte offset of a range and
// reads the cut file with both readers: a cut on a record boundary is a
// clean end, any other a *FormatError for the cut record (its offset, its
// packet number, "truncated ..."), and a lenient read returns the packets
// before the cut. compareReaders checks that the readers agree.
func TestTruncation(t *testing.T) {
	needTraces(t)
	cases := []struct {
		file  string
		upTo  int // cut at every offset below this (0: the whole file)
		every int // then at every every-th offset up to upTo2
		upTo2 int
	}{
		// Small files: every offset, through the end.
		{file: "tcpdump-tcp-handshake-nano.pcap"},
		{file: "zeek-linux_dlt_sll2.pcap"},
		{file: "zeek-pcapng-multi-interface.pcapng"},
		{file: "gopacket-be-test202.pcapng"},
		{file: "zeek-http-qinq-0.pcap", upTo: 2048, every: 5, upTo2: 6447},
		// Larger files: the header and first records densely, then sparser.
		{file: "pcap-parser-wireshark_samples-test.pcapng", upTo: 1500, every: 13, upTo2: 8192},
		{file: "gopacket-test_loopback.pcap", upTo: 1024, every: 17, upTo2: 8192},
		{file: "tcpreplay-test.pcap", upTo: 1024, every: 17, upTo2: 8192},
	}
	if testing.Short() {
		for i := range cases {
			cases[i].upTo, cases[i].every, cases[i].upTo2 = 400, 31, 4096
		}
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(tracesDir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			bounds := boundaries(data)
			full := compareReaders(t, writeTemp(t, dir, "full", data), 4096)
			// The end of each packet's record or block.
			ends := make([]int64, len(full.recs))
			for i, r := range full.recs {
				j, _ := slices.BinarySearch(bounds, r.Offset+1)
				ends[i] = bounds[j]
			}
			var cuts []int
			upTo := c.upTo
			if upTo == 0 || upTo > len(data) {
				upTo = len(data)
			}
			for n := 0; n <= upTo; n++ {
				cuts = append(cuts, n)
			}
			for n := upTo + c.every; c.every > 0 && n <= min(c.upTo2, len(data)); n += c.every {
				cuts = append(cuts, n)
			}
			path := filepath.Join(dir, "cut")
			for _, n := range cuts {
				if err := os.WriteFile(path, data[:n], 0o644); err != nil {
					t.Fatal(err)
				}
				checkCut(t, path, int64(n), bounds, ends, full.recs)
			}
		})
	}
}

// checkCut checks a file cut at n against the boundaries and packet ends
// of the whole file.
func checkCut(t *testing.T, path string, n int64, bounds, ends []int64, recs []Record) {
	t.Helper()
	res := compareReaders(t, path, 4096)
	if n < bounds[0] {
		var fe *FormatError
		if !errors.As(res.openErr, &fe) || fe.Record != -1 || fe.Offset != 0 || !strings.HasPrefix(fe.Reason, "truncated") {
			t.Fatalf("cut at %d, inside the file header: open returned %v", n, res.openErr)
		}
		return
	}
	if res.openErr != nil {
		t.Fatalf("cut at %d: open: %v", n, res.openErr)
	}
	want := 0
	for want < len(ends) && ends[want] <= n {
		want++
	}
	if err := sameRecords(res.recs, recs[:want]); err != nil {
		t.Fatalf("cut at %d: %v", n, err)
	}
	if _, onBound := slices.BinarySearch(bounds, n); onBound {
		if res.err != nil {
			t.Fatalf("cut at %d, a record boundary: %v", n, res.err)
		}
		return
	}
	i, _ := slices.BinarySearch(bounds, n)
	var fe *FormatError
	if !errors.As(res.err, &fe) || fe.Offset != bounds[i-1] || fe.Record != want || !strings.HasPrefix(fe.Reason, "truncated") {
		t.Fatalf("cut at %d: got %v, want a truncation at offset %d, packet %d", n, res.err, bounds[i-1], want+1)
	}
	l := readAll(t, path, ReadOptions{Reader: "mmap", Window: 4096, Lenient: true})
	if len(l.recs) != want || l.info.Lenient == nil || l.info.DroppedBytes != n-bounds[i-1] {
		t.Fatalf("cut at %d, lenient: %d packets (want %d), %v, dropped %d (want %d)",
			n, len(l.recs), want, l.info.Lenient, l.info.DroppedBytes, n-bounds[i-1])
	}
}
