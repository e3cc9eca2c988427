package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labrun/labrun/engine/frame"
	"github.com/labrun/labrun/engine/trace"
)

// traces holds the repository's test captures (testdata/captures).
const traces = "../../testdata/captures"

// shared is the path of a test capture; a missing one fails the test.
func shared(t *testing.T, name string) string {
	p := filepath.Join(traces, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("test capture %s: %v", p, err)
	}
	return p
}

// trace info agrees with testdata/captures/README.md (checked there against capinfos) on
// counts, link types and first/last timestamps, in text and JSON.
func TestTraceInfo(t *testing.T) {
	for _, tc := range []struct {
		file          string
		packets       int
		link          uint16
		first, last   int64
		format, order string
	}{
		// Classic microsecond pcap, little-endian, Ethernet.
		{"tcpreplay-test.pcap", 179, 1, 1278472579466743000, 1278472582723492000, "pcap", "little"},
		// Nanosecond pcap, Linux cooked capture.
		{"tcpdump-tcp-handshake-nano.pcap", 3, 113, 0, 0, "pcap", "little"},
		// pcapng with two interfaces of different resolutions.
		{"zeek-pcapng-multi-interface.pcapng", 6, 1, 0, 0, "pcapng", "little"},
	} {
		code, out, errOut := run(t, "trace", "info", "--json", shared(t, tc.file))
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.file, code, errOut)
		}
		var s []trace.Summary
		if err := json.Unmarshal([]byte(out), &s); err != nil || len(s) != 1 {
			t.Fatalf("%s: %v\n%s", tc.file, err, out)
		}
		got := s[0]
		if got.Packets != tc.packets || got.LinkTypes[tc.link] != tc.packets || got.Format != tc.format || got.ByteOrder != tc.order {
			t.Errorf("%s: %+v", tc.file, got)
		}
		if tc.first != 0 && (got.First != tc.first || got.Last != tc.last) {
			t.Errorf("%s: first %d last %d, want %d %d", tc.file, got.First, got.Last, tc.first, tc.last)
		}
		_, text, _ := run(t, "trace", "info", shared(t, tc.file))
		if !strings.Contains(text, "packets:              "+itoa(tc.packets)) {
			t.Errorf("%s: text output:\n%s", tc.file, text)
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// Malformed captures exit 1 naming the file, the offset and the record.
func TestTraceInfoMalformed(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"libpcap-pcap-invalid-version-1.pcap", "byte offset 0 (file header): unsupported pcap version 1.4"},
		{"tcpdump-timestamp_invalid_nano.pcap", "byte offset 116 (packet 2):"},
		{"libpcap-shb-option-too-long.pcapng", "libpcap-shb-option-too-long.pcapng: byte offset 0"},
	} {
		code, _, errOut := run(t, "trace", "info", shared(t, tc.file))
		if code != 1 || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "goroutine") {
			t.Errorf("%s: exit %d, stderr %q; want 1 and %q", tc.file, code, errOut, tc.want)
		}
	}
}

// convert --zero-payload writes a file whose every transformed frame has
// valid checksums and zero payload, and says what it left unchanged.
func TestTraceConvertZeroPayload(t *testing.T) {
	out := filepath.Join(t.TempDir(), "z.pcapng")
	code, stdout, errOut := run(t, "trace", "convert", shared(t, "ndpi-reddit-ipv6.pcap"), out, "--zero-payload")
	if code != 0 || !strings.Contains(stdout, "1942 packets written; zeroed 1942, kept unchanged 0") {
		t.Fatalf("exit %d: %s %s", code, stdout, errOut)
	}
	r, err := trace.OpenCapture(out, trace.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var rec trace.Record
	n := 0
	for r.Next(&rec) == nil {
		if err := frame.VerifyChecksums(rec.LinkType, rec.Data); err != nil {
			t.Fatalf("packet %d: %v", n, err)
		}
		n++
	}
	if n != 1942 {
		t.Fatalf("read back %d packets", n)
	}
}

// gen is deterministic: the same arguments give the same bytes.
func TestTraceGen(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.pcap"), filepath.Join(dir, "b.pcap")
	for _, p := range []string{a, b} {
		if code, _, errOut := run(t, "trace", "gen", p, "--count", "1000", "--interval", "20us", "--poisson", "--seed", "7"); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
	}
	x, _ := os.ReadFile(a)
	y, _ := os.ReadFile(b)
	if len(x) != 24+1000*(16+60) || string(x) != string(y) {
		t.Fatalf("sizes %d %d, equal %v", len(x), len(y), string(x) == string(y))
	}
	if code, _, errOut := run(t, "trace", "gen", a, "--count", "10", "--interval", "20"); code != 2 || !strings.Contains(errOut, "bad duration") {
		t.Fatalf("bare number: exit %d, %s", code, errOut)
	}
}

// convert's summary adds up to the frames written and says what was done
// to fragments, on a capture made of IPv4 and IPv6 fragments and on one
// with frames that are not IP.
func TestTraceConvertSummaryAddsUp(t *testing.T) {
	for _, tc := range []struct {
		file            string
		frames, zeroed  int
		kept, fragments int
	}{
		{"suricata-defrag-af-confusion-spray-h8.pcap", 16384, 16384, 0, 16384},
		{"tcpreplay-test.pcap", 179, 166, 13, 0},
	} {
		out := filepath.Join(t.TempDir(), "z.pcap")
		code, stdout, errOut := run(t, "trace", "convert", shared(t, tc.file), out, "--zero-payload")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.file, code, errOut)
		}
		var frames, zeroed, kept int
		if _, err := fmt.Sscanf(stdout[strings.Index(stdout, ": ")+2:], "%d packets written; zeroed %d", &frames, &zeroed); err != nil {
			t.Fatalf("%s: %q: %v", tc.file, stdout, err)
		}
		i := strings.Index(stdout, "kept unchanged ")
		if i < 0 {
			t.Fatalf("%s: %q", tc.file, stdout)
		}
		fmt.Sscanf(stdout[i:], "kept unchanged %d", &kept)
		if frames != tc.frames || zeroed != tc.zeroed || kept != tc.kept || zeroed+kept != frames {
			t.Errorf("%s: %q: frames %d zeroed %d kept %d; want %d %d %d", tc.file, stdout, frames, zeroed, kept, tc.frames, tc.zeroed, tc.kept)
		}
		frag := fmt.Sprintf("(%d of them IP fragments", tc.fragments)
		if strings.Contains(stdout, frag) != (tc.fragments > 0) || strings.Contains(stdout, "fragments 0") {
			t.Errorf("%s: %q: want fragments named as %q", tc.file, stdout, frag)
		}
	}
}
