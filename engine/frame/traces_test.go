package frame

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// tracesDir holds the repository's test captures, seen from this package.
const tracesDir = "../../testdata/captures"

// record is one frame of a capture file with its own link type.
type record struct {
	ci   gopacket.CaptureInfo
	link uint16
	data []byte
}

// readTrace reads every frame of a pcap or pcapng file (told apart by the
// magic number, not the name). It returns the frames read before any
// error, and the error. gopacket's readers narrow link types to 8 bits:
// for classic pcap the 16-bit value is read from the file header (SLL2 is
// 276); pcapng link types above 255 would come out wrong.
func readTrace(path string) ([]record, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(raw) < 24 {
		return nil, errors.New("shorter than a file header")
	}
	var recs []record
	if binary.LittleEndian.Uint32(raw) == 0x0a0d0d0a { // pcapng section header
		r, err := pcapgo.NewNgReader(bytes.NewReader(raw), pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, err
		}
		for {
			data, ci, err := r.ReadPacketData()
			if err == io.EOF {
				return recs, nil
			}
			if err != nil {
				return recs, err
			}
			intf, err := r.Interface(ci.InterfaceIndex)
			if err != nil {
				return recs, err
			}
			recs = append(recs, record{ci, uint16(intf.LinkType), slices.Clone(data)})
		}
	}
	r, err := pcapgo.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	var order binary.ByteOrder = binary.LittleEndian
	if m := binary.BigEndian.Uint32(raw); m == 0xa1b2c3d4 || m == 0xa1b23c4d {
		order = binary.BigEndian
	}
	link := uint16(order.Uint32(raw[20:]))
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return recs, err
		}
		recs = append(recs, record{ci, link, slices.Clone(data)})
	}
}

// traceFiles lists the shared captures, skipping the test if there are none.
func traceFiles(t *testing.T) []string {
	files, _ := filepath.Glob(filepath.Join(tracesDir, "*.pcap*"))
	if len(files) == 0 {
		t.Fatalf("no captures in %s", tracesDir)
	}
	return files
}

// TestTraces runs ZeroPayload over every frame of the shared captures.
// Each frame either fails with a counted reason and stays unchanged, or
// succeeds and then passes VerifyChecksums. Frames whose original
// checksums were already wrong (offloaded) and frames cut by the snaplen
// (whose originals cannot be verified) are counted apart; ZeroPayload
// recomputes checksums from scratch, so they must verify afterwards too.
func TestTraces(t *testing.T) {
	var total Stats
	for _, path := range traceFiles(t) {
		name := filepath.Base(path)
		recs, err := readTrace(path)
		if err != nil && len(recs) == 0 {
			t.Logf("%s: skipped, unreadable: %v", name, err)
			continue
		}
		if err != nil {
			t.Logf("%s: read error after %d frames: %v", name, len(recs), err)
		}
		var st Stats
		var origBad, cut int
		others := map[string]int{}
		for i, rec := range recs {
			f := slices.Clone(rec.data)
			if lay, perr := Parse(rec.link, f); perr == nil && lay.End > len(f) {
				cut++ // the original cannot be verified without its missing bytes
			} else if perr == nil && VerifyChecksums(rec.link, f) != nil {
				origBad++
			}
			lay, err := ZeroPayload(rec.link, f)
			st.Add(lay, err)
			if err != nil {
				if !bytes.Equal(f, rec.data) {
					t.Fatalf("%s frame %d: changed on error %v", name, i+1, err)
				}
				if ReasonOf(err) == ReasonOther {
					others[err.Error()]++
				}
				continue
			}
			if len(f) != len(rec.data) {
				t.Fatalf("%s frame %d: length changed", name, i+1)
			}
			if err := VerifyChecksums(rec.link, f); err != nil {
				t.Errorf("%s frame %d (link %d): after ZeroPayload: %v\n%x", name, i+1, rec.link, err, rec.data)
			}
		}
		total.Frames += st.Frames
		total.Transformed += st.Transformed
		t.Logf("%-45s %v; original checksums bad: %d, cut by snaplen: %d; other: %v", name, st, origBad, cut, others)
	}
	t.Logf("all captures: %d frames, %d transformed", total.Frames, total.Transformed)
}

// TestTshark writes zero-payload versions of two shared captures and asks
// tshark, with checksum validation on, for frames with a bad IPv4, UDP,
// TCP, ICMP or ICMPv6 checksum. Frames ZeroPayload refused are written
// unchanged; tshark may flag only those, and only if it flagged them in
// the original capture too.
func TestTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed")
	}
	traceFiles(t)
	for _, name := range []string{"tcpreplay-test.pcap", "ndpi-reddit-ipv6.pcap"} {
		recs, err := readTrace(filepath.Join(tracesDir, name))
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "zero-"+name)
		fh, err := os.Create(out)
		must(t, err)
		w := pcapgo.NewWriter(fh)
		must(t, w.WriteFileHeader(65535, layers.LinkType(recs[0].link)))
		refused := map[string]bool{}
		for i, rec := range recs {
			f := slices.Clone(rec.data)
			if _, err := ZeroPayload(rec.link, f); err != nil {
				refused[strconv.Itoa(i+1)] = true
			}
			must(t, w.WritePacket(rec.ci, f))
		}
		must(t, fh.Close())
		before := tsharkBad(t, tshark, filepath.Join(tracesDir, name))
		after := tsharkBad(t, tshark, out)
		for _, n := range after {
			if !refused[n] || !slices.Contains(before, n) {
				t.Errorf("%s: tshark finds a bad checksum in zeroed frame %s (refused %v, bad before %v)", name, n, refused[n], slices.Contains(before, n))
			}
		}
		t.Logf("%s: %d frames, %d refused; tshark bad checksums: %d before (frames %v), %d after (frames %v, all refused and bad before)",
			name, len(recs), len(refused), len(before), before, len(after), after)
	}
}

// tsharkFilter selects frames with any bad checksum (tshark 4.0 field names).
const tsharkFilter = `ip.checksum.status=="Bad" || udp.checksum.status=="Bad" || tcp.checksum.status=="Bad"` +
	` || icmp.checksum.status=="Bad" || icmpv6.checksum.status=="Bad"`

// tsharkBad returns the numbers of the frames tshark flags in file.
func tsharkBad(t *testing.T, tshark, file string) []string {
	cmd := exec.Command(tshark, "-r", file, "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
		"-o", "tcp.check_checksum:TRUE", "-Y", tsharkFilter, "-T", "fields", "-e", "frame.number")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}
	var frames []string
	sc := bufio.NewScanner(bytes.NewReader(outb))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			frames = append(frames, l)
		}
	}
	return frames
}
