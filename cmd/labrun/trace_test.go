package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// offsetSource yields 60-byte Ethernet frames at the given offsets.
type offsetSource struct {
	offs []int64
	i    int
}

func (s *offsetSource) Len() int { return len(s.offs) }
func (s *offsetSource) Rewind()  { s.i = 0 }
func (s *offsetSource) Next(p *trace.Packet) bool {
	if s.i >= len(s.offs) {
		return false
	}
	p.Offset, p.Seq, p.Frame = s.offs[s.i], uint64(s.i), make([]byte, 60)
	s.i++
	return true
}

// A capture with a 300-day gap: plan shows the real duration and warns;
// with max_gap = "1s" the gap is shortened and the run finishes.
func TestPlanCaptureLongGap(t *testing.T) {
	const script = `experiment(name = "gap", trace = trace.pcap("gap.pcap"%s), timer = timer.sleep(), sink = sink.null())`
	dir := inTempRoot(t, map[string]string{
		"gap.star":    fmt.Sprintf(script, ""),
		"gapmax.star": fmt.Sprintf(script, `, max_gap = "1s"`),
	})
	day := int64(24 * time.Hour)
	src := &offsetSource{offs: []int64{0, 1e6, 300 * day, 300*day + 1e6}}
	if err := trace.WritePcap(filepath.Join(dir, "gap.pcap"), src, trace.GenEpoch); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, "plan", "gap.star")
	if code != 0 || !strings.Contains(stdout, "scheduled 300d 0s") || !strings.Contains(stdout, "warning: gap.pcap: a gap of 300d 0s (before packet 3)") {
		t.Fatalf("plan: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, "plan", "gapmax.star")
	if code != 0 || !strings.Contains(stdout, "scheduled 1.002s") || strings.Contains(stdout, "warning") || !strings.Contains(stdout, "gaps max_gap shortens: 1") {
		t.Fatalf("plan with max_gap: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, "run", "--quiet", "-o", filepath.Join(dir, "out"), "gapmax.star")
	if code != 0 {
		t.Fatalf("run with max_gap: exit %d\n%s%s", code, stdout, stderr)
	}
	m := readManifest(t, resultsDir(t, stdout))
	if len(m.Runs) != 1 || m.Runs[0].Status != "ok" {
		t.Fatalf("manifest runs %+v", m.Runs)
	}
}

// Malformed and empty captures are refused by plan (exit 3) with the
// error the run would give: the file and the byte offset; a lenient read
// whose first record is bad has nothing to replay either.
func TestPlanRefusesBadCaptures(t *testing.T) {
	good, err := os.ReadFile(shared(t, "tcpreplay-test.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	copyIn := func(name string) {
		b, err := os.ReadFile(shared(t, name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = string(b)
	}
	copyIn("libpcap-pcap-invalid-version-1.pcap")
	copyIn("libpcap-shb-option-too-long.pcapng")
	files["empty.pcap"] = string(good[:24])
	files["truncated.pcap"] = string(good[:len(good)/2])
	// Fuzzed: the 3rd record's captured length is garbage. Records of
	// this file start at 24, then 24+16+caplen...
	fuzzed := append([]byte(nil), good...)
	off := 24
	for range 2 {
		off += 16 + int(binary.LittleEndian.Uint32(fuzzed[off+8:]))
	}
	binary.LittleEndian.PutUint32(fuzzed[off+8:], 0x7fff1234)
	files["fuzzed.pcap"] = string(fuzzed)
	firstBad := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(firstBad[24+8:], 0x7fff1234)
	files["firstbad.pcap"] = string(firstBad)
	for file, lenient := range map[string]string{"empty.pcap": "", "truncated.pcap": "", "fuzzed.pcap": "",
		"libpcap-pcap-invalid-version-1.pcap": "", "libpcap-shb-option-too-long.pcapng": "", "firstbad.pcap": ", lenient = True"} {
		files[file+".star"] = fmt.Sprintf(`experiment(name = "bad", trace = trace.pcap(%q%s), timer = timer.busy(), sink = sink.null())`, file, lenient)
	}
	dir := inTempRoot(t, files)
	for _, tc := range []struct{ file, want string }{
		{"empty.pcap", "empty.pcap: byte offset 24 (end of file): the capture holds no packet"},
		{"truncated.pcap", "truncated.pcap: byte offset 35864 (packet 80): truncated record"},
		{"fuzzed.pcap", fmt.Sprintf("fuzzed.pcap: byte offset %d (packet 3): captured length 2147422772 exceeds", off)},
		{"libpcap-pcap-invalid-version-1.pcap", "libpcap-pcap-invalid-version-1.pcap: byte offset 0 (file header): unsupported pcap version 1.4"},
		{"libpcap-shb-option-too-long.pcapng", "libpcap-shb-option-too-long.pcapng: byte offset 0 (file header): block total length 52 at the head but 808464432 at the tail"},
		{"firstbad.pcap", "firstbad.pcap: no packet to replay: even a lenient read keeps none, the first record is malformed (firstbad.pcap: byte offset 24 (packet 1)"},
	} {
		for _, cmd := range []string{"plan", "run"} {
			code, stdout, stderr := run(t, cmd, "--quiet", "-o", filepath.Join(dir, "out"), tc.file+".star")
			if cmd == "plan" {
				code, stdout, stderr = run(t, cmd, tc.file+".star")
			}
			if code != ExitScript || !strings.Contains(stderr, tc.file+".star:1:") || !strings.Contains(stderr, tc.want) ||
				strings.Contains(stderr+stdout, "internal error") || strings.Contains(stderr, "goroutine") {
				t.Errorf("%s %s: exit %d\nstdout %s\nstderr %s\nwant exit 3 and %q", cmd, tc.file, code, stdout, stderr, tc.want)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
		t.Errorf("a refused script left a results folder")
	}
}

// A lenient read of a truncated capture says in plan what it will drop,
// and the run records the malformation and the bytes dropped in the
// manifest.
func TestLenientCaptureInManifest(t *testing.T) {
	good, err := os.ReadFile(shared(t, "tcpreplay-test.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	dir := inTempRoot(t, map[string]string{
		"cut.pcap": string(good[:len(good)/2]),
		"cut.star": `experiment(name = "cut", trace = trace.pcap("cut.pcap", lenient = True, topspeed = True), timer = timer.busy(), sink = sink.null())`,
	})
	dropped := len(good)/2 - 35864
	code, stdout, stderr := run(t, "plan", "cut.star")
	want := fmt.Sprintf("lenient: keeps the first 79 packets and drops %d bytes from byte offset 35864 (packet 80): truncated record", dropped)
	if code != 0 || !strings.Contains(stdout, want) {
		t.Fatalf("plan: exit %d, want %q\n%s%s", code, want, stdout, stderr)
	}
	code, stdout, stderr = run(t, "run", "--quiet", "-o", filepath.Join(dir, "out"), "cut.star")
	if code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, stdout, stderr)
	}
	m := readManifest(t, resultsDir(t, stdout))
	st, _ := m.Runs[0].Trace.(map[string]any)
	if st["Packets"] != 79.0 || st["DroppedBytes"] != float64(dropped) || !strings.Contains(fmt.Sprint(st["Malformed"]), "byte offset 35864 (packet 80): truncated record") {
		t.Fatalf("manifest trace %v", m.Runs[0].Trace)
	}
}
